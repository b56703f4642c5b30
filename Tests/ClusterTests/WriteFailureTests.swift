import CouponClient
import Foundation
import Postgres
import Redis
import TestSupport
import Testing
import Wire

/// What a claim does when PostgreSQL fails its write after Redis reserved it: the caller hears 503,
/// nothing is written, the reservation and the user's claim lock are given back, so the same user
/// can claim the last coupon once PostgreSQL writes again.
@Suite struct WriteFailureTests {
    @Test func aFailedWriteGivesTheReservationAndTheLockBack() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let database = try cluster.database.pool()
            let redis = RedisConnection(config: try cluster.redis.config())
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let template = try await client.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "last coupon", type: .cash, thresholdCents: 20_000, discountCents: 3_000, startMilliseconds: now - 60_000,
                        endMilliseconds: now + 86_400_000, totalStock: 1, perUserLimit: 1)))
            let templateId = template.templateId
            func counter(_ key: String) async throws -> Int64 {
                Int64(try await redis.command(["GET", "cc:{\(templateId)}:\(key)"]).string ?? "0") ?? 0
            }

            // Every coupon row insert fails with an error no constraint handler catches, as a full
            // disk or a dropped connection would fail the statement.
            try await database.execute(
                """
                CREATE FUNCTION fail_coupon_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'disk full (test)' USING ERRCODE = '53100'; END; $$
                """, [])
            try await database.execute(
                "CREATE TRIGGER fail_coupon_insert BEFORE INSERT ON user_coupon FOR EACH ROW EXECUTE FUNCTION fail_coupon_insert()", [])

            let claim = ClaimRequest(userId: "u-last", templateId: templateId, channel: "app")
            let failure = await #expect(throws: ServiceError.self) { _ = try await client.call(claim) }
            #expect(failure?.code == .dependencyUnavailable, "\(String(describing: failure))")
            #expect(
                try await database.query("SELECT count(*)::bigint FROM user_coupon WHERE template_id = $1", [templateId])[0].decode(0, as: Int64.self)
                    == 0)
            // The reservation came back: Redis counts nothing issued, nothing spent, nothing for the user.
            #expect(try await counter("issued") == 0)
            #expect(try await counter("spent") == 0)
            #expect(try await counter("user:u-last") == 0)
            #expect(try await redis.command(["EXISTS", "cc:{\(templateId)}:lock:u-last"]).int == 0)

            try await database.execute("DROP TRIGGER fail_coupon_insert ON user_coupon", [])
            let answer = try await client.call(claim)
            #expect(answer.templateId == templateId)
            #expect(try await counter("issued") == 1)
            await #expect(throws: ServiceError.self) {
                _ = try await client.call(ClaimRequest(userId: "u-other", templateId: templateId, channel: "app"))
            }
            let view = try await client.call(GetTemplateRequest(templateId: templateId))
            #expect(view.issued == 1)
            await redis.close()
            await database.close()
        }
    }
}

import CouponClient
import Foundation
import Postgres
import TestSupport
import Testing
import Wire

/// A failure belongs to its item: one claim or redemption that PostgreSQL refuses for its own data,
/// sent at the same moment as 40 normal ones (so they share group-commit batches), fails alone; the
/// 40 are issued or used, every round.
@Suite(.serialized) struct BatchIsolationTests {
    static let rounds = 20

    /// A function that refuses a row with a data exception (SQLSTATE class 22), as a value the
    /// schema cannot hold would; each test hangs it on the rows of its poison item.
    static func createRefusal(_ database: PostgresPool) async throws {
        try await database.execute(
            """
            CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'value refused (test)' USING ERRCODE = '22023'; END; $$
            """, [])
    }

    static func template(_ client: ServiceClient, stock: Int32, perUser: Int32 = 1) async throws -> String {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return try await client.call(
            CreateTemplateRequest(
                spec: TemplateSpec(
                    name: "isolation", type: .cash, thresholdCents: 0, discountCents: 500, startMilliseconds: now - 60_000,
                    endMilliseconds: now + 86_400_000, totalStock: stock, perUserLimit: perUser))
        ).templateId
    }

    @Test func oneRefusedClaimAmongFortyFailsAlone() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client(timeoutMilliseconds: 60_000)
            defer { client.close() }
            let database = try cluster.database.pool()
            try await Self.createRefusal(database)
            try await database.execute(
                """
                CREATE TRIGGER refuse_poison BEFORE INSERT ON user_coupon FOR EACH ROW WHEN (NEW.user_id LIKE 'poison%')
                EXECUTE FUNCTION refuse_poison()
                """, [])
            for round in 0..<Self.rounds {
                let templateId = try await Self.template(client, stock: 100)
                var issued = 0
                var poisonCode: ErrorCode?
                try await withThrowingTaskGroup(of: (Bool, ErrorCode?).self) { group in
                    for user in 0..<40 {
                        group.addTask {
                            _ = try await client.call(ClaimRequest(userId: "u\(round)-\(user)", templateId: templateId, channel: "app"))
                            return (false, nil)
                        }
                    }
                    group.addTask {
                        do {
                            _ = try await client.call(ClaimRequest(userId: "poison\(round)", templateId: templateId, channel: "app"))
                            return (true, .ok)
                        } catch let error as ServiceError {
                            return (true, error.code)
                        }
                    }
                    for try await (isPoison, code) in group {
                        if isPoison { poisonCode = code } else { issued += 1 }
                    }
                }
                #expect(issued == 40, "round \(round)")
                #expect(poisonCode == .invalidArgument, "round \(round)")
                let rows = try await database.query("SELECT count(*)::bigint FROM user_coupon WHERE template_id = $1", [templateId])
                #expect(try rows[0].decode(0, as: Int64.self) == 40)
                let view = try await client.call(GetTemplateRequest(templateId: templateId))
                #expect(view.issued == 40, "the refused claim's stock came back")
            }
            await database.close()
        }
    }

    @Test func oneRefusedRedemptionAmongFortyFailsAlone() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client(timeoutMilliseconds: 60_000)
            defer { client.close() }
            let database = try cluster.database.pool()
            try await Self.createRefusal(database)
            try await database.execute(
                """
                CREATE TRIGGER refuse_poison BEFORE UPDATE ON user_coupon FOR EACH ROW WHEN (NEW.order_id LIKE 'poison%')
                EXECUTE FUNCTION refuse_poison()
                """, [])
            let templateId = try await Self.template(client, stock: Int32(Self.rounds * 41), perUser: Int32(Self.rounds * 41))
            for round in 0..<Self.rounds {
                var coupons: [String] = []
                for _ in 0..<41 {
                    coupons.append(try await client.call(ClaimRequest(userId: "buyer", templateId: templateId, channel: "app")).couponId)
                }
                var used = 0
                var poisonCode: ErrorCode?
                try await withThrowingTaskGroup(of: (Bool, ErrorCode?).self) { group in
                    for (index, couponId) in coupons.enumerated() {
                        let orderId = index == 0 ? "poison-\(round)" : "o\(round)-\(index)"
                        group.addTask {
                            do {
                                _ = try await client.call(UseRequest(orderId: orderId, couponId: couponId, amountCents: 10_000))
                                return (index == 0, .ok)
                            } catch let error as ServiceError where index == 0 {
                                return (true, error.code)
                            }
                        }
                    }
                    for try await (isPoison, code) in group {
                        if isPoison { poisonCode = code } else { used += 1 }
                    }
                }
                #expect(used == 40, "round \(round)")
                #expect(poisonCode == .invalidArgument, "round \(round)")
                let rows = try await database.query(
                    "SELECT count(*)::bigint FROM user_coupon WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)) AND status = 'USED'",
                    [JSONValue.array(coupons.map { .string($0) }).serialized()])
                #expect(try rows[0].decode(0, as: Int64.self) == 40)
            }
            await database.close()
        }
    }
}

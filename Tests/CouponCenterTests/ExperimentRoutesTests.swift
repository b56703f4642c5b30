import Postgres
import Testing
import Wire

@testable import CouponCenter

/// The experiment API's HTTP routes in process (no rule-engine or risk-control needed, since no
/// claim gets past the experiment's own checks here): every refusal names its field or state, and
/// a refused request writes nothing.
@Suite struct ExperimentRoutesTests {
    static func experimentBody(control: String, lower: String, extra: String = "", weights: (String, String) = ("0.5", "0.5")) -> String {
        #"{"name":"threshold 200 → 180","hypothesis":"+15%","arms":[{"name":"control","weight":\#(weights.0),"templateId":"\#(control)"},"#
            + #"{"name":"lower","weight":\#(weights.1),"templateId":"\#(lower)"}],"minLift":0.12\#(extra)}"#
    }

    static func templates(_ center: InProcessCouponCenter) async throws -> (String, String) {
        let first = try await center.call("POST", "/api/coupon/template", HTTPRoutesTests.template)
        let second = try await center.call("POST", "/api/coupon/template", HTTPRoutesTests.template)
        return (try #require(first.json["templateId"]?.text), try #require(second.json["templateId"]?.text))
    }

    @Test func badExperimentsAreRefusedAndWriteNothing() async throws {
        try await InProcessCouponCenter.with { center in
            let (control, lower) = try await Self.templates(center)
            let refusals: [(String, Int, String)] = [
                (Self.experimentBody(control: control, lower: lower, weights: ("0.5", "0.4")), 400, "add up to 9000"),
                (Self.experimentBody(control: control, lower: lower, extra: #","alpha":0.6"#), 400, "alpha"),
                (Self.experimentBody(control: control, lower: lower, extra: #","primaryMetric":"clicks""#), 400, "primaryMetric"),
                (Self.experimentBody(control: control, lower: lower, extra: #","decisionRule":"vibes""#), 400, "decisionRule"),
                (Self.experimentBody(control: control, lower: lower, extra: #","bonus":1"#), 400, "unknown field"),
                (Self.experimentBody(control: control, lower: lower, weights: ("0.5", "0.50001")), 400, "weight"),
                (Self.experimentBody(control: control, lower: "no-such-template"), 404, "template"),
                (Self.experimentBody(control: control, lower: control).replacingOccurrences(of: "\"lower\"", with: "\"control\""), 400, "twice"),
                (#"{"name":"x","arms":[{"name":"a","templateId":"\#(control)"}],"minLift":0.12}"#, 400, "between 2 and 10"),
                (#"{"name":"x","arms":[],"minLift":0.12}"#, 400, "between 2 and 10"),
                (
                    #"{"name":"x","arms":[{"name":"a","templateId":"t"},{"name":"b","templateId":"t"},{"name":"c","templateId":"t"}],"#
                        + #""minLift":0.1}"#, 400, "evenly"
                ),
                (Self.experimentBody(control: control, lower: lower).replacingOccurrences(of: #","minLift":0.12"#, with: ""), 400, "minLift"),
            ]
            for (body, status, words) in refusals {
                let answer = try await center.call("POST", "/api/admin/experiments", body)
                #expect(answer.status == status, "\(body) → \(answer.json)")
                #expect(answer.json["message"]?.text?.contains(words) == true, "\(body) → \(answer.json)")
            }
            let rows = try await center.database.query("SELECT count(*)::bigint FROM experiment", [])
            #expect(try rows[0].decode(0, as: Int64.self) == 0)
        }
    }

    @Test func theStatusMovesOnlyForwardAndClaimsNeedARunningExperiment() async throws {
        try await InProcessCouponCenter.with { center in
            let (control, lower) = try await Self.templates(center)
            // No weights: an even split.
            let created = try await center.call(
                "POST", "/api/admin/experiments",
                #"{"name":"even","arms":[{"name":"control","templateId":"\#(control)"},{"name":"lower","templateId":"\#(lower)"}],"minLift":0.12}"#)
            #expect(created.status == 200, "\(created.json)")
            let id = try #require(created.json["experimentId"]?.text)
            #expect(created.json["alpha"] == .number("0.05") && created.json["decisionRule"] == .string("seed"), "\(created.json)")

            let draftClaim = try await center.call(
                "POST", "/api/coupon/issue", #"{"userId":"u-1","channel":"app","experimentId":"\#(id)"}"#)
            #expect(draftClaim.status == 409 && draftClaim.json["error"] == .string("EXPERIMENT_NOT_RUNNING"), "\(draftClaim.json)")
            let both = try await center.call(
                "POST", "/api/coupon/issue", #"{"userId":"u-1","channel":"app","experimentId":"\#(id)","couponType":"\#(control)"}"#)
            #expect(both.status == 400, "\(both.json)")
            let badChannel = try await center.call("POST", "/api/coupon/issue", #"{"userId":"u-1","channel":" app","experimentId":"\#(id)"}"#)
            #expect(badChannel.status == 400, "\(badChannel.json)")

            let stopDraft = try await center.call("POST", "/api/admin/experiments/\(id)/stop")
            #expect(stopDraft.status == 409 && stopDraft.json["error"] == .string("EXPERIMENT_STATUS_CONFLICT"), "\(stopDraft.json)")
            #expect(try await center.call("POST", "/api/admin/experiments/\(id)/start").status == 200)
            let startAgain = try await center.call("POST", "/api/admin/experiments/\(id)/start")
            #expect(startAgain.status == 409, "\(startAgain.json)")

            let empty = try await center.call("GET", "/api/admin/experiments/\(id)/results")
            #expect(empty.status == 200 && empty.json["verdict"] == .string("INSUFFICIENT_DATA"), "\(empty.json)")
            let noWinner = try await center.call("POST", "/api/admin/experiments/\(id)/rollout")
            #expect(noWinner.status == 409 && noWinner.json["error"] == .string("EXPERIMENT_NO_WINNER"), "\(noWinner.json)")
            let noArm = try await center.call("POST", "/api/admin/experiments/\(id)/rollout", #"{"arm":"bigger"}"#)
            #expect(noArm.status == 404 && noArm.json["error"] == .string("EXPERIMENT_ARM_NOT_FOUND"), "\(noArm.json)")
            let rolled = try await center.call("POST", "/api/admin/experiments/\(id)/rollout", #"{"arm":"control"}"#)
            #expect(rolled.json["status"] == .string("ROLLED_OUT") && rolled.json["rolloutArm"] == .string("control"), "\(rolled.json)")
            let stopRolled = try await center.call("POST", "/api/admin/experiments/\(id)/stop")
            #expect(stopRolled.status == 409 && stopRolled.json["error"] == .string("EXPERIMENT_ROLLED_OUT"), "\(stopRolled.json)")

            let assigned = try await center.call("GET", "/api/coupon/experiments/\(id)/assignment?userId=%E7%94%A8%E6%88%B7")
            #expect(assigned.json["arm"] == .string("control") && assigned.json["rolledOut"] == .bool(true), "\(assigned.json)")
            let noUser = try await center.call("GET", "/api/coupon/experiments/\(id)/assignment")
            #expect(noUser.status == 400)
            let unknown = try await center.call("GET", "/api/admin/experiments/X-none")
            #expect(unknown.status == 404 && unknown.json["error"] == .string("EXPERIMENT_NOT_FOUND"))
            let listed = try await center.call("GET", "/api/admin/experiments?limit=5")
            guard case .array(let experiments)? = listed.json["experiments"] else {
                Issue.record("no list: \(listed.json)")
                return
            }
            #expect(experiments.count == 1)
            // Nothing above was a claim that got through: no exposure was recorded.
            let exposures = try await center.database.query("SELECT count(*)::bigint FROM experiment_exposure", [])
            #expect(try exposures[0].decode(0, as: Int64.self) == 0)
        }
    }
}

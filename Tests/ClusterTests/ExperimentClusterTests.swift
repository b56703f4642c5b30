import CouponClient
import Foundation
import Messaging
import Postgres
import TestSupport
import Testing
import Wire

/// The seed's experiment (§五.2: threshold 200 → 180) through a running cluster of two
/// coupon-center processes: users claim through the experiment, a seeded share of each arm uses
/// its coupon, and the results reach the verdict the reference statistics (computed here, from
/// the counts, by the textbook formulas) predict; a front-end that loses a third of one arm's
/// users is caught by the sample-ratio check; a rollout moves nobody out of the winner.
@Suite(.serialized) struct ExperimentClusterTests {
    /// SplitMix64: a seeded, reproducible stream, so every run simulates the same users.
    struct SplitMix {
        var state: UInt64
        mutating func unit() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }

    static func createTemplate(_ cluster: TestCluster, threshold: String) async throws -> String {
        let answer = try await cluster.http(
            "POST", "/api/coupon/template",
            json: CostCeilingTests.templateBody(name: "满\(threshold)减20", threshold: threshold, discount: "20", stock: 20_000))
        #expect(answer.status == 200, "\(answer.text)")
        return try #require(TemplateAndClaimAPITests.string(answer.json?["templateId"]))
    }

    static func createExperiment(_ cluster: TestCluster, control: String, lower: String, rule: String) async throws -> String {
        let body =
            #"{"name":"threshold 200 → 180","hypothesis":"a lower threshold raises the use rate by 15%","#
            + #""arms":[{"name":"control","weight":0.5,"templateId":"\#(control)"},{"name":"lower","weight":0.5,"templateId":"\#(lower)"}],"#
            + #""primaryMetric":"useRate","minLift":0.12,"alpha":0.05,"decisionRule":"\#(rule)"}"#
        let created = try await cluster.http("POST", "/api/admin/experiments", json: body)
        #expect(created.status == 200, "\(created.text)")
        #expect(created.json?["status"] == .string("DRAFT"))
        let id = try #require(TemplateAndClaimAPITests.string(created.json?["experimentId"]))
        let started = try await cluster.http("POST", "/api/admin/experiments/\(id)/start")
        #expect(started.json?["status"] == .string("RUNNING"), "\(started.text)")
        return id
    }

    /// Claims through the experiment for `users`, over the binary protocol alternating between
    /// the two processes, and uses the coupon when `uses(user, arm)` says so, on an order of 200.00
    /// (which meets both thresholds). Answers the arm each user claimed in.
    static func simulate(
        _ clients: [ServiceClient], experimentId: String, users: [String], uses: @escaping @Sendable (String, String) -> Bool,
        templates: [String: String]
    ) async throws -> [String: String] {
        let next = SharedCounter()
        var arms: [String: String] = [:]
        try await withThrowingTaskGroup(of: [(String, String)].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mine: [(String, String)] = []
                    while true {
                        let index = next.next()
                        guard index < users.count else { return mine }
                        let user = users[index]
                        let client = clients[(index + worker) % clients.count]
                        let claimed = try await client.call(
                            ExperimentClaimRequest(userId: user, experimentId: experimentId, channel: "app", requestId: "claim-\(user)"))
                        let arm = try #require(templates[claimed.templateId], "claimed a template of no arm: \(claimed.templateId)")
                        mine.append((user, arm))
                        if uses(user, arm) {
                            _ = try await client.call(
                                UseRequest(orderId: "order-\(user)", couponId: claimed.couponId, amountCents: 20_000, userId: user, items: []))
                        }
                    }
                }
            }
            for try await pairs in group { for (user, arm) in pairs { arms[user] = arm } }
        }
        return arms
    }

    /// The pooled two-proportion z test and the delta-method lift interval, written out here as
    /// the textbook gives them, independently of Shared/Domain.
    static func reference(controlClaims: Double, controlUses: Double, lowerClaims: Double, lowerUses: Double) -> (
        p: Double, lift: Double, liftLow: Double
    ) {
        let (p1, p2) = (controlUses / controlClaims, lowerUses / lowerClaims)
        let pooled = (controlUses + lowerUses) / (controlClaims + lowerClaims)
        let z = (p2 - p1) / (pooled * (1 - pooled) * (1 / controlClaims + 1 / lowerClaims)).squareRoot()
        let p = erfc(abs(z) / 2.0.squareRoot())
        let variance = (p2 * (1 - p2) / lowerClaims) / (p1 * p1) + p2 * p2 * (p1 * (1 - p1) / controlClaims) / (p1 * p1 * p1 * p1)
        return (p, p2 / p1 - 1, p2 / p1 - 1 - 1.959963984540054 * variance.squareRoot())
    }

    static func number(_ value: JSONValue?) -> Double? {
        guard case .number(let text)? = value else { return nil }
        return Double(text)
    }

    static func integer(_ value: JSONValue?) -> Int? {
        guard case .number(let text)? = value else { return nil }
        return Int(text)
    }

    @Test func theSeedsExperimentReachesThePredictedVerdictAndRollsOut() async throws {
        try await TestCluster.with(couponCenters: 2) { cluster in
            let clients = try cluster.couponCenterURLs.map {
                try ServiceClient(service: "coupon-center", urls: [$0], timeoutMilliseconds: Patience.callMilliseconds)
            }
            defer { for client in clients { client.close() } }
            let control = try await Self.createTemplate(cluster, threshold: "200")
            let lower = try await Self.createTemplate(cluster, threshold: "180")
            let experimentId = try await Self.createExperiment(cluster, control: control, lower: lower, rule: "seed")

            // 3,000 users; the seeded stream decides who uses the coupon: 20% of control, 30% of lower.
            let users = (0..<3_000).map { "ab-\($0)" }
            var random = SplitMix(state: 20_261_201)
            let draws = Dictionary(uniqueKeysWithValues: users.map { ($0, random.unit()) })
            let rates = ["control": 0.20, "lower": 0.30]
            let arms = try await Self.simulate(
                clients, experimentId: experimentId, users: users, uses: { user, arm in draws[user]! < rates[arm]! },
                templates: [control: "control", lower: "lower"])
            #expect(arms.count == users.count)

            // The same arm from both processes, for every user, as the claims went.
            for user in users.prefix(200) {
                let first = try await cluster.http("GET", "/api/coupon/experiments/\(experimentId)/assignment?userId=\(user)", to: 0)
                let second = try await cluster.http("GET", "/api/coupon/experiments/\(experimentId)/assignment?userId=\(user)", to: 1)
                #expect(first.json?["arm"] == .string(arms[user]!), "\(first.text)")
                #expect(second.json?["arm"] == first.json?["arm"], "\(user): \(first.text) / \(second.text)")
                #expect(second.json?["bucket"] == first.json?["bucket"])
            }

            // A retry (same request id) answers the first coupon and records no second exposure.
            let retried = try await clients[1].call(
                ExperimentClaimRequest(userId: "ab-7", experimentId: experimentId, channel: "app", requestId: "claim-ab-7"))
            #expect(retried.templateId == (arms["ab-7"] == "control" ? control : lower))
            let database = try cluster.database.pool()
            let exposures = try await database.query(
                "SELECT arm, count(*)::bigint FROM experiment_exposure WHERE experiment_id = $1 GROUP BY arm ORDER BY arm", [experimentId])
            var exposedPerArm: [String: Int64] = [:]
            for row in exposures { exposedPerArm[try row.decode(0, as: String.self)] = try row.decode(1, as: Int64.self) }
            await database.close()
            let expectedExposed = Dictionary(grouping: arms.values, by: { $0 }).mapValues { Int64($0.count) }
            #expect(exposedPerArm == expectedExposed)

            let answer = try await cluster.http("GET", "/api/admin/experiments/\(experimentId)/results", to: 1)
            #expect(answer.status == 200, "\(answer.text)")
            let results = try #require(answer.json)
            guard case .array(let armResults)? = results["arms"], armResults.count == 2 else {
                Issue.record("no arms: \(answer.text)")
                return
            }
            let expectedUses = Dictionary(grouping: users.filter { draws[$0]! < rates[arms[$0]!]! }, by: { arms[$0]! }).mapValues(\.count)
            for result in armResults {
                let name = try #require(TemplateAndClaimAPITests.string(result["name"]))
                #expect(Self.integer(result["exposedUsers"]) == Int(expectedExposed[name] ?? 0), "\(name)")
                #expect(Self.integer(result["claims"]) == Int(expectedExposed[name] ?? 0), "\(name)")
                #expect(Self.integer(result["uses"]) == expectedUses[name] ?? 0, "\(name)")
            }
            let reference = Self.reference(
                controlClaims: Double(expectedExposed["control"] ?? 0), controlUses: Double(expectedUses["control"] ?? 0),
                lowerClaims: Double(expectedExposed["lower"] ?? 0), lowerUses: Double(expectedUses["lower"] ?? 0))
            guard case .array(let comparisons)? = results["comparisons"], let comparison = comparisons.first else {
                Issue.record("no comparison: \(answer.text)")
                return
            }
            let test = comparison["useRateTest"]
            let reportedP = try #require(Self.number(test?["pValue"]))
            #expect(abs(reportedP - reference.p) <= 1e-5 * max(reference.p, 1e-300), "p \(reportedP) against \(reference.p)")
            let reportedLift = try #require(Self.number(test?["relativeLift"]))
            #expect(abs(reportedLift - reference.lift) <= 1e-5 * abs(reference.lift))
            // What the reference predicts under the seed's rule: p < 0.05 and lift ≥ +12%.
            let predicted = reference.p < 0.05 && reference.lift >= 0.12 ? "ROLL_OUT" : "HOLD"
            #expect(predicted == "ROLL_OUT", "the simulation should show the lift it was given: \(reference)")
            #expect(results["verdict"] == .string(predicted), "\(answer.text)")
            #expect(results["winner"] == .string("lower"))
            #expect(results["sampleRatio"]?["mismatch"] == .bool(false))
            let lowerBoundPredicted = reference.liftLow >= 0.12
            #expect(comparison["lowerBoundVerdict"] == .string(lowerBoundPredicted ? "ROLL_OUT" : "INSUFFICIENT_DATA"), "\(reference)")

            // One new user's claim sent ten times at once to both processes: one coupon, one exposure.
            let racedCoupons = try await withThrowingTaskGroup(of: String.self) { group in
                for attempt in 0..<10 {
                    group.addTask {
                        try await clients[attempt % 2].call(
                            ExperimentClaimRequest(userId: "ab-race", experimentId: experimentId, channel: "app", requestId: "claim-ab-race")
                        ).couponId
                    }
                }
                var coupons = Set<String>()
                for try await coupon in group { coupons.insert(coupon) }
                return coupons
            }
            #expect(racedCoupons.count == 1, "\(racedCoupons)")
            let raceDatabase = try cluster.database.pool()
            let racedExposures = try await raceDatabase.query(
                "SELECT count(*)::bigint FROM experiment_exposure WHERE experiment_id = $1 AND user_id = 'ab-race'", [experimentId])
            await raceDatabase.close()
            #expect(try racedExposures[0].decode(0, as: Int64.self) == 1)

            // The assignment survives a restart of the process.
            let before = try await cluster.http("GET", "/api/coupon/experiments/\(experimentId)/assignment?userId=ab-42", to: 0)
            await cluster.couponCenters[0].terminate()
            try await cluster.restartCouponCenter(0)
            let after = try await cluster.http("GET", "/api/coupon/experiments/\(experimentId)/assignment?userId=ab-42", to: 0)
            #expect(after.json?["bucket"] == before.json?["bucket"] && after.json?["arm"] == before.json?["arm"], "\(before.text) / \(after.text)")

            // Rollout without an arm takes the winner; afterwards everyone is in it, and a control
            // user's next claim through the experiment is of the winner's template.
            let rolled = try await cluster.http("POST", "/api/admin/experiments/\(experimentId)/rollout", to: 1)
            #expect(rolled.json?["status"] == .string("ROLLED_OUT"), "\(rolled.text)")
            #expect(rolled.json?["rolloutArm"] == .string("lower"))
            for user in users.prefix(300) {
                let now = try await cluster.http("GET", "/api/coupon/experiments/\(experimentId)/assignment?userId=\(user)")
                #expect(now.json?["arm"] == .string("lower"), "\(user) was in \(arms[user]!), now \(now.text)")
            }
            let controlUser = try #require(users.first { arms[$0] == "control" })
            let moved = try await clients[0].call(ExperimentClaimRequest(userId: controlUser, experimentId: experimentId, channel: "app"))
            #expect(moved.templateId == lower)
            let again = try await cluster.http("POST", "/api/admin/experiments/\(experimentId)/rollout", json: #"{"arm":"control"}"#)
            #expect(again.status == 409 && again.json?["error"] == .string("EXPERIMENT_ROLLED_OUT"), "\(again.text)")
        }
    }

    @Test func aFrontEndThatLosesUsersOfOneArmIsCaughtBySampleRatio() async throws {
        try await TestCluster.with { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let control = try await Self.createTemplate(cluster, threshold: "200")
            let lower = try await Self.createTemplate(cluster, threshold: "180")
            let experimentId = try await Self.createExperiment(cluster, control: control, lower: lower, rule: "lowerBound")

            // A claim through a DRAFT or STOPPED experiment is refused; both a template and an
            // experiment in one claim is invalid.
            let both = try await cluster.http(
                "POST", "/api/coupon/issue", json: #"{"userId":"u-1","channel":"app","experimentId":"\#(experimentId)","templateId":"\#(control)"}"#)
            #expect(both.status == 400, "\(both.text)")

            // A caller built before experiments sends `claim` (0x0110) with its six documented
            // fields, byte by byte: it still decodes and claims, as experiment_claim got its own kind.
            func text(_ value: String) -> [UInt8] { [UInt8(value.utf8.count)] + Array(value.utf8) }
            let sixFields = text("old-caller") + text(control) + text("app") + [1] + text("dev-1") + [0] + [1] + text("old-req-1")
            let raw = try RequestClient(configuration: .init(urls: [cluster.couponCenterURLs[0]], defaultTimeoutMilliseconds: 60_000))
            defer { raw.close() }
            let header = FrameHeader(kind: MessageKind(rawValue: 0x0110), requestId: 41, bodyLength: UInt32(sixFields.count))
            let oldReply = try await raw.call(FrameCodec.encode(Frame(header: header, body: sixFields)))
            let oldClaim = try Envelope.decodeReply(oldReply, for: ClaimRequest.self, requestId: 41)
            #expect(oldClaim.templateId == control && oldClaim.couponId.hasPrefix("C"), "\(oldClaim)")
            let oldWallet = try await client.call(WalletRequest(userId: "old-caller"))
            #expect(oldWallet.coupons.map(\.couponId) == [oldClaim.couponId])

            // Over HTTP, `experimentId` in POST /api/coupon/issue claims through the experiment.
            let overHTTP = try await cluster.http(
                "POST", "/api/coupon/issue", json: #"{"userId":"http-1","channel":"app","experimentId":"\#(experimentId)"}"#)
            #expect(overHTTP.status == 200, "\(overHTTP.text)")
            let httpTemplate = TemplateAndClaimAPITests.string(overHTTP.json?["templateId"])
            #expect(httpTemplate == control || httpTemplate == lower, "\(overHTTP.text)")

            // The treatment page loses every third user before the claim: their exposure is never
            // recorded, so the arms' exposed users stop matching the 50/50 weights.
            var claimed = 1  // http-1's, above
            for index in 0..<2_000 {
                let user = "srm-\(index)"
                let assignment = try await client.call(ExperimentAssignmentRequest(experimentId: experimentId, userId: user))
                if assignment.arm == "lower" && index % 3 == 0 { continue }
                _ = try await client.call(ExperimentClaimRequest(userId: user, experimentId: experimentId, channel: "app"))
                claimed += 1
            }
            let results = try await client.call(ExperimentResultsRequest(experimentId: experimentId))
            #expect(results.arms.map(\.exposedUsers).reduce(0, +) == Int64(claimed))
            #expect(results.sampleRatio.mismatch, "\(results.sampleRatio)")
            #expect(results.verdict == .hold)
            #expect(results.winner == nil)
            #expect(results.reasons.first?.hasPrefix("SAMPLE_RATIO_MISMATCH") == true, "\(results.reasons)")
            // A rollout without an arm has no winner to take.
            await #expect(throws: ServiceError.self) { try await client.call(RolloutExperimentRequest(experimentId: experimentId)) }

            let stopped = try await client.call(StopExperimentRequest(experimentId: experimentId))
            #expect(stopped.status == .stopped)
            let refused = try await cluster.http(
                "POST", "/api/coupon/issue", json: #"{"userId":"late","channel":"app","experimentId":"\#(experimentId)"}"#)
            #expect(refused.status == 409 && refused.json?["error"] == .string("EXPERIMENT_NOT_RUNNING"), "\(refused.text)")
            let unknown = try await cluster.http("GET", "/api/admin/experiments/nope/results")
            #expect(unknown.status == 404, "\(unknown.text)")

            // The operator's side, from couponctl: create with flags (an even split), start, look
            // up an arm, read the results, and roll out (refused without a winner, done with an arm).
            let environment = ["COUPON_CENTER_URL": cluster.couponCenterURLs[0], "COUPON_TIME_ZONE": "Asia/Shanghai"]
            func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
                try await runTool("couponctl", ["experiment"] + arguments, environment: environment)
            }
            let created = try await run([
                "create", "--name", "from the command line", "--arms", "control=\(control),lower=\(lower)", "--min-lift", "0.15", "--json",
            ])
            #expect(created.status == 0, "\(created.output)")
            let view = try JSONParser.parse(Array(created.output.utf8))
            let ctlId = try #require(TemplateAndClaimAPITests.string(view["experimentId"]), "\(created.output)")
            #expect(view["minLift"] == .number("0.15"))
            guard case .array(let ctlArms)? = view["arms"] else {
                Issue.record("no arms: \(created.output)")
                return
            }
            #expect(ctlArms.map { $0["weight"] } == [.number("0.5"), .number("0.5")], "\(created.output)")
            #expect(try await run(["start", ctlId]).status == 0)
            let assigned = try await run(["assign", ctlId, "--user", "ctl-user", "--json"])
            let arm = try JSONParser.parse(Array(assigned.output.utf8))["arm"]
            #expect(arm == .string("control") || arm == .string("lower"), "\(assigned.output)")
            let shown = try await run(["results", ctlId])
            #expect(shown.status == 0 && shown.output.contains("verdict: INSUFFICIENT_DATA"), "\(shown.output)")
            let noWinner = try await run(["rollout", ctlId])
            #expect(noWinner.status == 2 && noWinner.output.contains("1223 EXPERIMENT_NO_WINNER"), "\(noWinner.output)")
            let rolled = try await run(["rollout", ctlId, "--arm", "lower", "--json"])
            #expect(try JSONParser.parse(Array(rolled.output.utf8))["status"] == .string("ROLLED_OUT"), "\(rolled.output)")
        }
    }
}

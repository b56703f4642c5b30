import Domain
import Testing
import Wire

@testable import CouponCenter

/// Assignment of users to arms (ExperimentBuckets over ExperimentRules): stable, even, independent
/// between experiments, and a rollout that moves nobody out of the winning arm. Pure: no server.
@Suite struct ExperimentAssignmentTests {
    static let users = (0..<100_000).map { "user-\($0)" }

    static func view(_ weights: [Int32], rolloutArm: String? = nil) -> ExperimentView {
        let arms = weights.enumerated().map { ExperimentArmSpec(name: "arm-\($0.offset)", templateId: "t-\($0.offset)", weightBuckets: $0.element) }
        return ExperimentView(
            experimentId: "x", spec: ExperimentSpec(name: "x", hypothesis: "", arms: arms, minLiftBasisPoints: 1_200), status: .running,
            rolloutArm: rolloutArm, createdMilliseconds: 0, startedMilliseconds: 0, stoppedMilliseconds: nil)
    }

    @Test func bucketsAreTheDocumentedHMAC() throws {
        // Python's hmac.new(salt, user, hashlib.sha256).digest()[:8], big-endian, mod 10,000.
        let expected: [(String, String, Int32)] = [
            ("salt-a", "u-1", 529), ("salt-a", "u-2", 1_287), ("salt-b", "u-1", 9_695), ("S3CR3T", "用户-42", 2_157),
        ]
        for (salt, user, bucket) in expected {
            #expect(try ExperimentBuckets.bucket(salt: salt, userId: user) == bucket, "\(salt) \(user)")
        }
    }

    @Test func aHundredThousandUsersSplitFiftyFiftyWithinHalfAPercent() throws {
        let view = Self.view([5_000, 5_000])
        var control = 0
        for user in Self.users {
            if try ExperimentBuckets.assignment(view, salt: "0011-even-split", userId: user).arm.name == "arm-0" { control += 1 }
        }
        let share = Double(control) / Double(Self.users.count)
        #expect(abs(share - 0.5) <= 0.005, "control holds \(control) of \(Self.users.count)")
    }

    @Test func twoExperimentsSplitTheSameUsersIndependently() throws {
        let view = Self.view([5_000, 5_000])
        // The 2×2 table of arms in experiment A against arms in experiment B.
        var table = [[Int64]](repeating: [0, 0], count: 2)
        for user in Self.users {
            let first = try ExperimentBuckets.assignment(view, salt: "experiment-A-salt", userId: user).arm.name == "arm-0" ? 0 : 1
            let second = try ExperimentBuckets.assignment(view, salt: "experiment-B-salt", userId: user).arm.name == "arm-0" ? 0 : 1
            table[first][second] += 1
        }
        // Pearson's chi-squared of independence, 1 degree of freedom.
        let total = Double(Self.users.count)
        var chiSquared = 0.0
        for row in 0..<2 {
            for column in 0..<2 {
                let expected = Double(table[row][0] + table[row][1]) * Double(table[0][column] + table[1][column]) / total
                chiSquared += (Double(table[row][column]) - expected) * (Double(table[row][column]) - expected) / expected
            }
        }
        let p = StatisticsDistributions.chiSquaredSurvival(chiSquared, degreesOfFreedom: 1)
        #expect(p > 0.001, "arms of A and B are dependent: \(table), chi-squared \(chiSquared), p \(p)")
    }

    @Test func unevenWeightsGetTheirShare() throws {
        let view = Self.view([2_000, 3_000, 5_000])
        var counts = [String: Int]()
        for user in Self.users { counts[try ExperimentBuckets.assignment(view, salt: "three-arms", userId: user).arm.name, default: 0] += 1 }
        for (arm, share) in [("arm-0", 0.2), ("arm-1", 0.3), ("arm-2", 0.5)] {
            #expect(abs(Double(counts[arm] ?? 0) / Double(Self.users.count) - share) <= 0.005, "\(arm): \(counts[arm] ?? 0)")
        }
    }

    @Test func aRolloutMovesNobodyOutOfTheWinner() throws {
        let running = Self.view([5_000, 5_000])
        let rolledOut = Self.view([5_000, 5_000], rolloutArm: "arm-1")
        var winners = 0
        for user in Self.users.prefix(20_000) {
            let before = try ExperimentBuckets.assignment(running, salt: "rollout", userId: user)
            let after = try ExperimentBuckets.assignment(rolledOut, salt: "rollout", userId: user)
            #expect(after.arm.name == "arm-1", "\(user) is not in the winner after the rollout")
            #expect(after.bucket == before.bucket)
            if before.arm.name == "arm-1" { winners += 1 }
        }
        #expect(winners > 0)
    }

    @Test func createRulesRefuseBadExperiments() {
        let arms = [
            ExperimentArmSpec(name: "a", templateId: "t1", weightBuckets: 5_000),
            ExperimentArmSpec(name: "b", templateId: "t2", weightBuckets: 5_000),
        ]
        let good = ExperimentSpec(name: "seed", hypothesis: "", arms: arms, minLiftBasisPoints: 1_200)
        #expect(throws: Never.self) { try ExperimentRules.validate(good) }
        var uneven = good
        uneven.arms[1].weightBuckets = 4_999
        var twice = good
        twice.arms[1].name = "a"
        var alone = good
        alone.arms.removeLast()
        var longName = good
        longName.name = String(repeating: "名", count: 101)
        var noLift = good
        noLift.minLiftBasisPoints = 0
        var control = good
        control.hypothesis = "a\u{0007}"
        for bad in [uneven, twice, alone, longName, noLift, control] {
            #expect(throws: ServiceError.self) { try ExperimentRules.validate(bad) }
        }
        // 100 code points of a 3-byte character is within the limit (code points, not bytes).
        var hundred = good
        hundred.name = String(repeating: "名", count: 100)
        #expect(throws: Never.self) { try ExperimentRules.validate(hundred) }
    }
}

import Foundation
import Wire

/// Draws from the Gamma and Beta distributions with a `SeededRandom`, so a policy's choice is the
/// same for the same seed on every machine. Gamma by Marsaglia and Tsang's squeeze method (2000):
/// for shape a ≥ 1, d = a − 1/3, c = 1/√(9d); draw a standard normal x and v = (1 + cx)³ until
/// v > 0 and a uniform u passes u < 1 − 0.0331x⁴ or ln u < x²/2 + d(1 − v + ln v); the draw is dv.
/// A shape below 1 draws Gamma(a + 1) and multiplies by u^(1/a). Beta(a, b) is X ÷ (X + Y) with
/// X ~ Gamma(a), Y ~ Gamma(b).
public enum RandomDraws {
    /// Uniform in the open interval (0, 1): 52 random bits, offset by half a step so that neither
    /// 0 (a logarithm's pole) nor 1 is ever drawn.
    public static func unit(_ random: inout SeededRandom) -> Double {
        (Double(random.next() >> 12) + 0.5) / 4_503_599_627_370_496
    }

    /// A standard normal by Box–Muller (one of the pair; the other is dropped for simplicity).
    public static func normal(_ random: inout SeededRandom) -> Double {
        let (u, v) = (unit(&random), unit(&random))
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Gamma(shape, 1); `shape` must be positive and finite (the caller's posteriors are ≥ 1).
    public static func gamma(shape: Double, _ random: inout SeededRandom) -> Double {
        precondition(shape > 0 && shape.isFinite, "gamma shape \(shape)")
        if shape < 1 {
            return gamma(shape: shape + 1, &random) * pow(unit(&random), 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            let x = normal(&random)
            let root = 1 + c * x
            guard root > 0 else { continue }
            let v = root * root * root
            let u = unit(&random)
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// Beta(alpha, beta), both positive and finite.
    public static func beta(alpha: Double, beta: Double, _ random: inout SeededRandom) -> Double {
        let x = gamma(shape: alpha, &random)
        let y = gamma(shape: beta, &random)
        return x / (x + y)
    }
}

/// One arm's record under a segment: how many of its matured decisions converted.
public struct ArmRecord: Sendable, Equatable {
    public var arm: OfferArm
    public var trials: Int64
    public var successes: Int64

    public init(arm: OfferArm, trials: Int64, successes: Int64) {
        self.arm = arm
        self.trials = trials
        self.successes = successes
    }

    /// Beta(1 + successes, 1 + failures): the uniform prior updated by the outcomes. Counts are
    /// clamped to be consistent (0 ≤ successes ≤ trials), so a hostile row cannot make a shape ≤ 0.
    public var posterior: (alpha: Double, beta: Double) {
        let trials = max(self.trials, 0)
        let successes = min(max(self.successes, 0), trials)
        return (1 + Double(successes), 1 + Double(trials - successes))
    }
}

/// Thompson sampling: each arm's conversion rate drawn from its posterior, the highest wins. The
/// choice is the winner of the first draw; its propensity, the probability Thompson sampling gives
/// that arm, is estimated by repeating the draw `draws` times (the first included, so it is never 0),
/// which is what inverse propensity scoring divides by.
public enum ThompsonSampling {
    public static let defaultDraws = 256

    public struct Choice: Sendable, Equatable {
        public var arm: OfferArm
        public var propensity: Double
    }

    /// `candidates` in a fixed order (a tie goes to the earlier arm); arms without a record have
    /// the uniform prior. Nil without candidates.
    public static func choose(
        _ candidates: [OfferArm], records: [OfferArm: ArmRecord], random: inout SeededRandom, draws: Int = defaultDraws
    ) -> Choice? {
        let probabilities = probabilities(candidates, records: records, random: &random, draws: draws)
        guard let chosen = probabilities.first else { return nil }
        return Choice(arm: chosen.arm, propensity: chosen.probability)
    }

    /// The winner of the first draw first, with every arm's share of the `draws` draws (the target
    /// probabilities an offline evaluation of v1 needs); the other arms follow in candidate order.
    public static func probabilities(
        _ candidates: [OfferArm], records: [OfferArm: ArmRecord], random: inout SeededRandom, draws: Int = defaultDraws
    ) -> [(arm: OfferArm, probability: Double)] {
        guard !candidates.isEmpty else { return [] }
        let posteriors = candidates.map { (records[$0] ?? ArmRecord(arm: $0, trials: 0, successes: 0)).posterior }
        var wins = [Int](repeating: 0, count: candidates.count)
        var first = 0
        let rounds = max(draws, 1)
        for round in 0..<rounds {
            var best = 0
            var bestDraw = -Double.infinity
            for (index, posterior) in posteriors.enumerated() {
                let draw = RandomDraws.beta(alpha: posterior.alpha, beta: posterior.beta, &random)
                if draw > bestDraw {
                    best = index
                    bestDraw = draw
                }
            }
            if round == 0 { first = best }
            wins[best] += 1
        }
        var answer = [(arm: candidates[first], probability: Double(wins[first]) / Double(rounds))]
        for (index, arm) in candidates.enumerated() where index != first {
            answer.append((arm, Double(wins[index]) / Double(rounds)))
        }
        return answer
    }
}

/// Off-policy evaluation by inverse propensity scoring: from decisions a logging policy took with
/// known propensities, the value a target policy would have had, without running it.
public enum OfflineEvaluation {
    /// One logged decision: its reward (1 converted, 0 not), the logging policy's probability of
    /// the logged arm, and the target policy's probability of that same arm.
    public struct Sample: Sendable, Equatable {
        public var reward: Double
        public var loggedPropensity: Double
        public var targetProbability: Double

        public init(reward: Double, loggedPropensity: Double, targetProbability: Double) {
            self.reward = reward
            self.loggedPropensity = loggedPropensity
            self.targetProbability = targetProbability
        }
    }

    public struct Estimate: Sendable, Equatable {
        /// The mean logged reward (what the logging policy earned).
        public var logged: Double
        /// (1/n) Σ rᵢ wᵢ with wᵢ = target ÷ logged: unbiased when every propensity is right and positive.
        public var ips: Double
        /// Σ rᵢ wᵢ ÷ Σ wᵢ (nil when every weight is 0: the target never takes a logged arm).
        public var selfNormalized: Double?
        /// (Σ wᵢ)² ÷ Σ wᵢ²: how many logged decisions the estimate is worth (nil when every weight is 0).
        public var effectiveSampleSize: Double?
    }

    /// Nil without samples. A sample whose logged propensity is not in (0, 1] or whose numbers are
    /// not finite is skipped: it cannot be weighed (a propensity of 0 means the arm could not have
    /// been logged).
    public static func estimate(_ samples: [Sample]) -> Estimate? {
        let usable = samples.filter {
            $0.loggedPropensity > 0 && $0.loggedPropensity <= 1 && $0.reward.isFinite && $0.targetProbability.isFinite
                && $0.targetProbability >= 0
        }
        guard !usable.isEmpty else { return nil }
        var (rewardSum, weighted, weights, squares) = (0.0, 0.0, 0.0, 0.0)
        for sample in usable {
            let weight = sample.targetProbability / sample.loggedPropensity
            rewardSum += sample.reward
            weighted += sample.reward * weight
            weights += weight
            squares += weight * weight
        }
        let count = Double(usable.count)
        return Estimate(
            logged: rewardSum / count, ips: weighted / count, selfNormalized: weights > 0 ? weighted / weights : nil,
            effectiveSampleSize: squares > 0 ? weights * weights / squares : nil)
    }
}

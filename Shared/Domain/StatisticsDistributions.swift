import Foundation

/// The distributions the experiment statistics need, in pure Swift over the C library's `erfc`,
/// `lgamma`, `log` and `exp`: the standard normal (CDF, survival, quantile), Student's t (CDF,
/// two-sided tail, quantile) and chi-squared (survival).
///
/// Contract: every function is total. Arguments outside the domain get the limit the function
/// tends to (a probability of 0 or 1, a quantile of ±infinity) rather than a trap or NaN; callers
/// that put a value into an answer pass only probabilities strictly inside (0, 1). Precision: about
/// 12 significant digits where the result is above 1e-300, checked against SciPy in
/// Tests/DomainTests/ExperimentStatisticsTests.swift.
public enum StatisticsDistributions {
    // MARK: Normal

    /// P(Z ≤ x) for the standard normal, through erfc so the lower tail keeps its digits.
    public static func normalCDF(_ x: Double) -> Double {
        guard !x.isNaN else { return 0.5 }
        return 0.5 * erfc(-x / 2.0.squareRoot())
    }

    /// P(Z > x), exact in the far upper tail (where 1 − CDF would be 0).
    public static func normalSurvival(_ x: Double) -> Double {
        guard !x.isNaN else { return 0.5 }
        return 0.5 * erfc(x / 2.0.squareRoot())
    }

    /// The x with P(Z ≤ x) = p: Acklam's rational approximation (relative error below 1.2e-9),
    /// then two Halley steps on the erfc-based CDF, which bring it to the CDF's own precision.
    public static func normalQuantile(_ p: Double) -> Double {
        guard !p.isNaN else { return 0 }
        if p <= 0 { return -.infinity }
        if p >= 1 { return .infinity }
        var x = acklamQuantile(p)
        for _ in 0..<2 {
            // Halley's method on f(x) = CDF(x) − p, with f' the density and f'' = −x·f'.
            // CDF(x) − p, written as (1 − p) − P(Z > x) in the upper half so the tail keeps its digits.
            let error = p < 0.5 ? normalCDF(x) - p : (1 - p) - normalSurvival(x)
            let density = exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
            guard density > 0 else { break }
            let step = error / density
            x -= step / (1 + 0.5 * x * step)
        }
        return x
    }

    private static func acklamQuantile(_ p: Double) -> Double {
        let a = [
            -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01,
            2.506628277459239e+00,
        ]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [
            -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00,
            2.938163982698783e+00,
        ]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        if p < low || p > 1 - low {
            // The tails: a rational function of sqrt(−2 ln q), q the smaller tail.
            let q = (-2 * log(p < low ? p : 1 - p)).squareRoot()
            let x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
            return p < low ? x : -x
        }
        let q = p - 0.5
        let r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }

    // MARK: Student's t

    /// P(T ≤ t) with `degreesOfFreedom` > 0 (fractional, as Welch's are); more than 10^8 degrees
    /// of freedom are the normal.
    public static func studentTCDF(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard !t.isNaN, df > 0, !df.isNaN else { return 0.5 }
        if df > 1e8 { return normalCDF(t) }
        if t.isInfinite { return t > 0 ? 1 : 0 }
        let tail = 0.5 * studentTTwoSided(abs(t), degreesOfFreedom: df)
        return t > 0 ? 1 - tail : tail
    }

    /// P(|T| ≥ |t|): the two-sided p-value of a t statistic, I_{df/(df+t²)}(df/2, 1/2).
    public static func studentTTwoSided(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard !t.isNaN, df > 0, !df.isNaN else { return 1 }
        if df > 1e8 { return 2 * normalSurvival(abs(t)) }
        if t.isInfinite { return 0 }
        return regularizedIncompleteBeta(a: df / 2, b: 0.5, x: df / (df + t * t))
    }

    /// The t with P(T ≤ t) = p, by bisection on the CDF (the CDF is monotone, so this cannot miss).
    public static func studentTQuantile(_ p: Double, degreesOfFreedom df: Double) -> Double {
        guard !p.isNaN, df > 0, !df.isNaN else { return 0 }
        if p <= 0 { return -.infinity }
        if p >= 1 { return .infinity }
        if df > 1e8 { return normalQuantile(p) }
        if p == 0.5 { return 0 }
        // Solve in the lower tail, where the CDF keeps its digits, and mirror.
        let tail = min(p, 1 - p)
        var low = -1.0
        var high = 0.0
        while studentTCDF(low, degreesOfFreedom: df) > tail {
            high = low
            low *= 2
            if low < -1e300 { return p < 0.5 ? -.infinity : .infinity }
        }
        for _ in 0..<200 {
            let middle = 0.5 * (low + high)
            if studentTCDF(middle, degreesOfFreedom: df) < tail { low = middle } else { high = middle }
            if high - low <= 1e-15 * max(1, abs(middle)) { break }
        }
        let x = 0.5 * (low + high)
        return p < 0.5 ? x : -x
    }

    // MARK: Chi-squared

    /// P(X ≥ x) for chi-squared with `degreesOfFreedom`: Q(df/2, x/2).
    public static func chiSquaredSurvival(_ x: Double, degreesOfFreedom df: Double) -> Double {
        guard !x.isNaN, df > 0, !df.isNaN else { return 1 }
        if x <= 0 { return 1 }
        if x.isInfinite { return 0 }
        return regularizedGammaQ(a: df / 2, x: x / 2)
    }

    // MARK: Special functions

    /// I_x(a, b), the regularized incomplete beta function, a, b > 0: the continued fraction
    /// (evaluated by the modified Lentz method) on the side of x where it converges quickly, and
    /// the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) on the other.
    public static func regularizedIncompleteBeta(a: Double, b: Double, x: Double) -> Double {
        guard a > 0, b > 0, !x.isNaN else { return 0 }
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x)
        if x < (a + 1) / (a + b + 2) {
            return min(1, max(0, exp(logFront) * betaContinuedFraction(a: a, b: b, x: x) / a))
        }
        return min(1, max(0, 1 - exp(logFront) * betaContinuedFraction(a: b, b: a, x: 1 - x) / b))
    }

    /// The continued fraction of I_x(a, b): terms d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)) and
    /// d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)).
    private static func betaContinuedFraction(a: Double, b: Double, x: Double) -> Double {
        let tiny = 1e-300
        func guarded(_ value: Double) -> Double { abs(value) < tiny ? tiny : value }
        var c = 1.0
        var d = 1 / guarded(1 - (a + b) * x / (a + 1))
        var fraction = d
        for step in 1...1_000 {
            let m = Double(step)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 / guarded(1 + even * d)
            c = guarded(1 + even / c)
            fraction *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 / guarded(1 + odd * d)
            c = guarded(1 + odd / c)
            let change = d * c
            fraction *= change
            if abs(change - 1) < 1e-16 { break }
        }
        return fraction
    }

    /// Q(a, x) = Γ(a, x) / Γ(a), a > 0: the series of P below x = a + 1, the continued fraction
    /// of Q above it.
    public static func regularizedGammaQ(a: Double, x: Double) -> Double {
        guard a > 0, !x.isNaN else { return 1 }
        if x <= 0 { return 1 }
        if x.isInfinite { return 0 }
        let logFront = -x + a * log(x) - lgamma(a)
        if x < a + 1 {
            var term = 1 / a
            var sum = term
            var denominator = a
            for _ in 0..<10_000 {
                denominator += 1
                term *= x / denominator
                sum += term
                if abs(term) < abs(sum) * 1e-17 { break }
            }
            return min(1, max(0, 1 - sum * exp(logFront)))
        }
        let tiny = 1e-300
        func guarded(_ value: Double) -> Double { abs(value) < tiny ? tiny : value }
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / guarded(b)
        var fraction = d
        for step in 1...10_000 {
            let i = Double(step)
            let term = -i * (i - a)
            b += 2
            d = 1 / guarded(term * d + b)
            c = guarded(b + term / c)
            let change = d * c
            fraction *= change
            if abs(change - 1) < 1e-16 { break }
        }
        return min(1, max(0, exp(logFront) * fraction))
    }
}

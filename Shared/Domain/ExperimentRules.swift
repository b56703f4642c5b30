import Wire

/// What an experiment must be to be created, and how a bucket becomes an arm.
public enum ExperimentRules {
    /// Users are split into this many buckets; arm weights are counted in them.
    public static let buckets: Int32 = 10_000
    public static let maxArms = 10
    public static let maxNameLength = 100
    public static let maxHypothesisLength = 1_000

    /// Checked in the order written; the first failure is the answer. Lengths are code points,
    /// the unit of the CHECKs in migration 0011.
    public static func validate(_ spec: ExperimentSpec) throws(ServiceError) {
        try text(spec.name, field: "name", maxLength: maxNameLength, allowEmpty: false)
        try text(spec.hypothesis, field: "hypothesis", maxLength: maxHypothesisLength, allowEmpty: true)
        guard (2...maxArms).contains(spec.arms.count) else {
            throw ServiceError(.invalidArgument, "arms: between 2 and \(maxArms) (the first is the control), got \(spec.arms.count)")
        }
        var names = Set<String>()
        var total: Int64 = 0
        for (index, arm) in spec.arms.enumerated() {
            try TemplateRules.identifier(arm.name, field: "arms[\(index)].name")
            try TemplateRules.identifier(arm.templateId, field: "arms[\(index)].templateId")
            guard names.insert(arm.name).inserted else { throw ServiceError(.invalidArgument, "arms[\(index)].name: \(arm.name) appears twice") }
            guard (1...buckets).contains(arm.weightBuckets) else {
                throw ServiceError(.invalidArgument, "arms[\(index)].weight: between 1 and \(buckets) buckets (0.01% … 100%)")
            }
            total += Int64(arm.weightBuckets)
        }
        guard total == Int64(buckets) else {
            throw ServiceError(.invalidArgument, "arms: the weights add up to \(total) buckets, they must add up to \(buckets) (100%)")
        }
        guard (1...9_999).contains(spec.minLiftBasisPoints) else {
            throw ServiceError(.invalidArgument, "minLift: between 0.0001 and 0.9999 (a relative lift, 0.12 = +12%)")
        }
        guard (1...5_000).contains(spec.alphaBasisPoints) else { throw ServiceError(.invalidArgument, "alpha: between 0.0001 and 0.5") }
    }

    static func text(_ value: String, field: String, maxLength: Int, allowEmpty: Bool) throws(ServiceError) {
        let scalars = value.unicodeScalars
        if !allowEmpty && !scalars.contains(where: { !$0.properties.isWhitespace }) {
            throw ServiceError(.invalidArgument, "\(field): must not be empty or only spaces")
        }
        guard scalars.dropFirst(maxLength).isEmpty else { throw ServiceError(.invalidArgument, "\(field): at most \(maxLength) code points") }
        guard !TemplateRules.containsControlCharacters(value) else {
            throw ServiceError(.invalidArgument, "\(field): must not contain control characters")
        }
    }

    /// The bucket of a 64-bit hash: its value modulo 10,000 (the bias of 2^64 mod 10,000 is below
    /// one part in 10^15).
    public static func bucket(hash: UInt64) -> Int32 { Int32(hash % UInt64(buckets)) }

    /// The first 8 bytes of a digest, big-endian; nil when it is shorter.
    public static func leadingWord(_ digest: [UInt8]) -> UInt64? {
        guard digest.count >= 8 else { return nil }
        return digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The arm owning `bucket`: arms own consecutive ranges of buckets in their order (weights
    /// 5,000 and 5,000: buckets 0…4,999 and 5,000…9,999). Once rolled out, everyone is in the
    /// rollout arm, so nobody already in it moves. Nil only for arms whose weights do not cover
    /// the bucket (which `validate` prevents).
    public static func arm(bucket: Int32, arms: [ExperimentArmSpec], rolloutArm: String?) -> ExperimentArmSpec? {
        if let rolloutArm { return arms.first { $0.name == rolloutArm } }
        var upper: Int64 = 0
        for arm in arms {
            upper += Int64(arm.weightBuckets)
            if Int64(bucket) < upper { return arm }
        }
        return nil
    }
}

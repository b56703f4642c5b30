import Domain
import Signatures
import Wire

/// A user's bucket in an experiment: the first 8 bytes of HMAC-SHA256(key: the experiment's salt,
/// message: the user id's UTF-8), big-endian, mod 10,000. A keyed hash from OpenSSL rather than our
/// own: the same on every process and after restarts (it depends on nothing else), uniform, and
/// independent between experiments because their salts differ. Anyone with the salt can check a
/// bucket with `printf %s USER | openssl dgst -sha256 -hmac SALT`.
enum ExperimentBuckets {
    static func bucket(salt: String, userId: String) throws(ServiceError) -> Int32 {
        let digest: [UInt8]
        do {
            digest = try HMACSHA256.authenticate(Array(userId.utf8), key: Array(salt.utf8))
        } catch {
            throw ServiceError(.internalError, "cannot hash the user into a bucket: \(error)")
        }
        guard let word = ExperimentRules.leadingWord(digest) else { throw ServiceError(.internalError, "the bucket hash is too short") }
        return ExperimentRules.bucket(hash: word)
    }

    /// The arm and bucket of `userId` in the experiment as it stands (rolled out or not).
    static func assignment(_ view: ExperimentView, salt: String, userId: String) throws(ServiceError) -> (arm: ExperimentArmSpec, bucket: Int32) {
        let bucket = try bucket(salt: salt, userId: userId)
        guard let arm = ExperimentRules.arm(bucket: bucket, arms: view.spec.arms, rolloutArm: view.rolloutArm) else {
            throw ServiceError(.internalError, "experiment \(view.experimentId): no arm owns bucket \(bucket)")
        }
        return (arm, bucket)
    }
}

internal import CCrypt
import Dispatch

/// Password hashes from libxcrypt (Debian's libcrypt): yescrypt, `$y$` settings. The one file that
/// sees libcrypt. The hashing is the library's, never our own; this only moves bytes in and out.
///
/// Hashing is deliberately slow (tens of milliseconds of CPU and memory), so it never runs on
/// Swift's cooperative pool: every call goes to one serial queue of its own. Serial on purpose:
/// a flood of logins then queues here instead of starving every other task of CPU, and a brute
/// force is slowed for free.
public enum PasswordHash {
    public struct HashingError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "password hashing failed: \(message)" }
    }

    /// The most bytes of UTF-8 a passphrase may have: libcrypt refuses longer ones
    /// (CRYPT_MAX_PASSPHRASE_SIZE counts the terminating NUL).
    public static let maxPassphraseBytes = Int(CRYPT_MAX_PASSPHRASE_SIZE) - 1

    private static let queue = DispatchQueue(label: "coupon.password-hash")

    /// A fresh yescrypt hash of `password` (`$y$…`), with a salt from `SecureRandom`.
    public static func hash(_ password: String) async throws(HashingError) -> String {
        let salt: [UInt8]
        do {
            salt = try SecureRandom.bytes(32)
        } catch {
            throw HashingError(message: "no random salt: \(error)")
        }
        let result: Result<String, HashingError> = await run {
            guard let setting = makeSetting(salt) else { return .failure(HashingError(message: "crypt_gensalt_rn refused the $y$ prefix")) }
            return crypt(password, setting: setting).map(Result.success) ?? .failure(HashingError(message: "crypt_r refused the setting"))
        }
        return try result.get()
    }

    /// Whether `password` hashes to `stored`. A stored value libcrypt cannot read (corrupt, or a
    /// method it does not know) is a mismatch, never a match. The two hashes are compared in
    /// constant time.
    public static func verify(_ password: String, against stored: String) async -> Bool {
        await run {
            guard let computed = crypt(password, setting: stored) else { return false }
            return ConstantTime.equal(Array(computed.utf8), Array(stored.utf8))
        }
    }

    private static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }

    private static func makeSetting(_ salt: [UInt8]) -> String? {
        var output = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        let produced = salt.map { CChar(bitPattern: $0) }.withUnsafeBufferPointer { saltBuffer in
            // count 0: the library's default cost for yescrypt.
            crypt_gensalt_rn("$y$", 0, saltBuffer.baseAddress, Int32(saltBuffer.count), &output, Int32(output.count))
        }
        guard produced != nil else { return nil }
        let text = String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.hasPrefix("$y$") ? text : nil
    }

    /// crypt_r's answer, or nil when it failed: libxcrypt then returns NULL or a string starting
    /// with `*`, which can never be a hash. A NUL inside `password` would cut it short in C, so
    /// such a password is refused here rather than silently truncated.
    private static func crypt(_ password: String, setting: String) -> String? {
        guard !password.utf8.contains(0), password.utf8.count <= maxPassphraseBytes, !setting.utf8.contains(0) else { return nil }
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer {
            // The work area held the password: wipe it before it goes back to the allocator.
            UnsafeMutableRawPointer(data).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<crypt_data>.size)
            data.deallocate()
        }
        UnsafeMutableRawPointer(data).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<crypt_data>.size)
        guard let answer = crypt_r(password, setting, data) else { return nil }
        let text = String(cString: answer)
        return text.hasPrefix("*") ? nil : text
    }
}

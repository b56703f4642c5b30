internal import COpenSSL

/// Random bytes for secrets (salts, session ids, API tokens) from OpenSSL's CSPRNG, and the
/// SHA-256 under which tokens are stored. Secrets are never stored: only their digest is.
public enum SecureRandom {
    public struct RandomError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "no secure random bytes: \(message)" }
    }

    public static func bytes(_ count: Int) throws(RandomError) -> [UInt8] {
        guard count > 0, let length = Int32(exactly: count) else { throw RandomError(message: "cannot draw \(count) bytes") }
        var output = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&output, length) == 1 else { throw RandomError(message: "RAND_bytes failed (error \(ERR_get_error()))") }
        return output
    }

    /// `count` random bytes as lowercase hex (2 × `count` characters).
    public static func hex(_ count: Int) throws(RandomError) -> String { Hex.encode(try bytes(count)) }
}

public enum SHA256Digest {
    /// The 32-byte SHA-256 of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let input = bytes.isEmpty ? [0] : bytes
        input.withUnsafeBufferPointer { buffer in _ = SHA256(buffer.baseAddress, bytes.count, &output) }
        return output
    }

    public static func hex(_ text: String) -> String { Hex.encode(digest(Array(text.utf8))) }
}

public enum ConstantTime {
    /// Whether two byte strings are equal, in time that depends on their length only (OpenSSL's
    /// CRYPTO_memcmp), so a caller guessing a secret learns nothing from how fast it is refused.
    public static func equal(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        guard left.count == right.count else { return false }
        guard !left.isEmpty else { return true }
        return left.withUnsafeBytes { leftBuffer in
            right.withUnsafeBytes { rightBuffer in CRYPTO_memcmp(leftBuffer.baseAddress, rightBuffer.baseAddress, left.count) == 0 }
        }
    }
}

public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

internal import COpenSSL

/// HMAC-SHA256 from OpenSSL's libcrypto: the one file that sees OpenSSL. Webhook receivers check
/// the same value with `openssl dgst -sha256 -hmac SECRET`, so the maths must be the library's,
/// never our own.
public enum HMACSHA256 {
    public struct SigningError: Error, Sendable, CustomStringConvertible {
        /// OpenSSL's own text for the failure (ERR_error_string_n), or what we were doing.
        public var message: String
        public var description: String { "HMAC-SHA256 failed: \(message)" }
    }

    /// The 32-byte MAC of `message` under `key`.
    public static func authenticate(_ message: [UInt8], key: [UInt8]) throws(SigningError) -> [UInt8] {
        guard let keyLength = Int32(exactly: key.count) else { throw SigningError(message: "a key of \(key.count) bytes is too long") }
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // A zero-length key or message is valid HMAC input; OpenSSL wants a non-null pointer for
        // the key all the same, hence the one-byte stand-in (length 0 means it is not read).
        let keyBytes = key.isEmpty ? [0] : key
        let messageBytes = message.isEmpty ? [0] : message
        let result = keyBytes.withUnsafeBufferPointer { keyBuffer in
            messageBytes.withUnsafeBufferPointer { messageBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    HMAC(
                        EVP_sha256(), keyBuffer.baseAddress, keyLength, messageBuffer.baseAddress, message.count,
                        outputBuffer.baseAddress, &length)
                }
            }
        }
        guard result != nil, length == 32 else { throw SigningError(message: openSSLErrorText()) }
        return Array(output.prefix(Int(length)))
    }

    /// The MAC as lowercase hex, the form `openssl dgst` prints and the signature header carries.
    public static func hex(_ message: [UInt8], key: [UInt8]) throws(SigningError) -> String {
        Hex.encode(try authenticate(message, key: key))
    }

    private static func openSSLErrorText() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "HMAC() returned no digest" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

import Signatures

/// The headers that let a receiver check a POST came from us and is not a replay (README,
/// "Verifying a webhook"):
/// - `X-Coupon-Timestamp`: Unix seconds when this attempt was signed;
/// - `X-Coupon-Signature`: `sha256=` and the lowercase hex HMAC-SHA256, keyed with the secret, of
///   the timestamp, one `.`, and the exact body bytes.
/// A receiver recomputes it with
/// `printf '%s.%s' "$TIMESTAMP" "$BODY" | openssl dgst -sha256 -hmac "$SECRET"` and refuses
/// timestamps far from its clock.
enum WebhookSignature {
    static func signedMaterial(timestamp: Int64, body: [UInt8]) -> [UInt8] {
        Array("\(timestamp).".utf8) + body
    }

    static func headers(eventId: String, body: [UInt8], secret: [UInt8], timestamp: Int64) throws -> [(String, String)] {
        let signature = try HMACSHA256.hex(signedMaterial(timestamp: timestamp, body: body), key: secret)
        return [
            ("Content-Type", "application/json"), ("User-Agent", "coupon-center"), ("X-Coupon-Event-Id", eventId),
            ("X-Coupon-Timestamp", String(timestamp)), ("X-Coupon-Signature", "sha256=\(signature)"),
        ]
    }
}

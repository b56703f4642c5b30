import Wire

/// What an operator account's fields may hold, in the units the database enforces
/// (migration 0012 checks the same bounds with char_length and octet_length).
public enum AccountRules {
    public static let minimumPasswordCodePoints = 10
    /// libcrypt's limit is far above this; 128 bytes keeps a hash request cheap to refuse.
    public static let maximumPasswordBytes = 128
    public static let maximumUsernameCodePoints = 64
    public static let maximumTokenNameCodePoints = 64
    public static let maximumTokenTTLDays = 3650

    /// A password: 10 or more code points, at most 128 bytes of UTF-8, no U+0000 (C would cut it
    /// there). The message never repeats the password.
    public static func checkPassword(_ password: String) throws(ServiceError) {
        guard !password.unicodeScalars.contains("\u{0}") else { throw ServiceError(.invalidArgument, "password: must not contain U+0000") }
        guard password.unicodeScalars.count >= minimumPasswordCodePoints else {
            throw ServiceError(.invalidArgument, "password: at least \(minimumPasswordCodePoints) characters (code points)")
        }
        guard password.utf8.count <= maximumPasswordBytes else {
            throw ServiceError(.invalidArgument, "password: at most \(maximumPasswordBytes) bytes of UTF-8")
        }
    }

    /// A username: 1–64 of ASCII letters, digits, `.`, `_`, `-` and `@`, so it can never hide a
    /// control character or a look-alike in the audit log.
    public static func checkUsername(_ username: String) throws(ServiceError) {
        let scalars = username.unicodeScalars
        guard (1...maximumUsernameCodePoints).contains(scalars.count) else {
            throw ServiceError(.invalidArgument, "username: 1 to \(maximumUsernameCodePoints) characters")
        }
        guard scalars.allSatisfy(isUsernameCharacter) else {
            throw ServiceError(.invalidArgument, "username: only ASCII letters, digits, '.', '_', '-' and '@'")
        }
    }

    /// An API token's name: 1–64 code points, none of them a control character.
    public static func checkTokenName(_ name: String) throws(ServiceError) {
        guard (1...maximumTokenNameCodePoints).contains(name.unicodeScalars.count) else {
            throw ServiceError(.invalidArgument, "name: 1 to \(maximumTokenNameCodePoints) characters")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ServiceError(.invalidArgument, "name: no control characters")
        }
    }

    public static func checkTokenTTL(days: Int64) throws(ServiceError) {
        guard (1...Int64(maximumTokenTTLDays)).contains(days) else {
            throw ServiceError(.invalidArgument, "ttlDays: between 1 and \(maximumTokenTTLDays)")
        }
    }

    private static func isUsernameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-", "@": true
        default: false
        }
    }
}

/// The secrets a caller presents, told apart by their prefix so one lookup finds the right table.
public enum CredentialText {
    public static let sessionPrefix = "ccs_"
    public static let apiTokenPrefix = "cct_"
    /// Credentials longer than this are refused before any lookup (and by the frame decoder on
    /// the wire, PROTOCOL.md "Credential block").
    public static let maximumBytes = 512

    public enum Kind: Sendable, Equatable { case session, apiToken, other }

    public static func kind(of credential: String) -> Kind {
        if credential.hasPrefix(sessionPrefix) { return .session }
        if credential.hasPrefix(apiTokenPrefix) { return .apiToken }
        return .other
    }

    /// The token of `Authorization: Bearer <token>` (the scheme in any letter case), or nil.
    public static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingSpaces
        return token.isEmpty ? nil : token
    }
}

/// The session cookie and the CSRF rule.
public enum SessionCookie {
    public static let name = "cc_session"

    /// The value of cookie `name` in a `Cookie` header (several cookies separated by `;`, several
    /// headers joined by `,`: neither character may appear in a cookie value). Nil when absent.
    public static func value(named name: String = SessionCookie.name, in header: String?) -> String? {
        guard let header else { return nil }
        for pair in header.split(whereSeparator: { $0 == ";" || $0 == "," }) {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            guard pair[..<equals].trimmingSpaces == name else { continue }
            let value = pair[pair.index(after: equals)...].trimmingSpaces
            let unquoted = value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\"") ? String(value.dropFirst().dropLast()) : value
            return unquoted.isEmpty ? nil : unquoted
        }
        return nil
    }

    /// The `Set-Cookie` value that starts a session: HttpOnly (no script reads it), SameSite=Strict
    /// (no other site's page sends it), `Secure` when the deployment serves HTTPS.
    public static func setCookie(_ sessionId: String, maxAgeSeconds: Int, secure: Bool) -> String {
        "\(name)=\(sessionId); HttpOnly; SameSite=Strict; Path=/; Max-Age=\(maxAgeSeconds)" + (secure ? "; Secure" : "")
    }

    /// The `Set-Cookie` value that ends it.
    public static func clearCookie(secure: Bool) -> String { setCookie("", maxAgeSeconds: 0, secure: secure) }

    /// Whether a method changes state (everything but GET, HEAD and OPTIONS).
    public static func changesState(_ method: String) -> Bool { !["GET", "HEAD", "OPTIONS"].contains(method) }

    /// The CSRF rule: a state-changing request authenticated by the cookie must carry
    /// `X-CSRF-Token` equal to the session's token. `equal` is the caller's constant-time
    /// comparison. Requests authenticated by a bearer token carry no ambient authority and skip it.
    public static func csrfRefusal(
        method: String, byCookie: Bool, presented: String?, expected: String?, equal: ([UInt8], [UInt8]) -> Bool
    ) -> ServiceError? {
        guard byCookie, changesState(method) else { return nil }
        guard let presented, !presented.isEmpty else {
            return ServiceError(.csrfMissing, "a \(method) with the session cookie needs the X-CSRF-Token header (from login or /api/auth/me)")
        }
        guard let expected, equal(Array(presented.utf8), Array(expected.utf8)) else {
            return ServiceError(.csrfMismatch, "X-CSRF-Token does not match this session")
        }
        return nil
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

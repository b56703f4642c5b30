import Access
import Signatures
import Testing
import Wire

@Suite struct CredentialRulesTests {
    @Test func passwordsAreMeasuredInCodePointsAndBytes() throws {
        #expect(throws: ServiceError.self) { try AccountRules.checkPassword("short") }
        try AccountRules.checkPassword("0123456789")
        // Ten code points that are fewer graphemes (a flag is two code points): long enough.
        try AccountRules.checkPassword("🇨🇳🇨🇳🇨🇳🇨🇳🇨🇳")
        // Nine code points, whatever their bytes: too short.
        #expect(throws: ServiceError.self) { try AccountRules.checkPassword("密码密码密码密码密") }
        try AccountRules.checkPassword(String(repeating: "a", count: 128))
        #expect(throws: ServiceError.self) { try AccountRules.checkPassword(String(repeating: "a", count: 129)) }
        // 43 three-byte characters are 129 bytes: over the byte limit though only 43 code points.
        #expect(throws: ServiceError.self) { try AccountRules.checkPassword(String(repeating: "密", count: 43)) }
        #expect(throws: ServiceError.self) { try AccountRules.checkPassword("0123456789\u{0}") }
    }

    @Test func aRefusedPasswordIsNeverRepeated() {
        let secret = "hunter2-\u{0}-secret-value"
        do {
            try AccountRules.checkPassword(secret)
            Issue.record("a password with U+0000 was accepted")
        } catch {
            #expect(!error.message.contains("hunter2"))
        }
    }

    @Test func usernamesAreASafeSet() throws {
        try AccountRules.checkUsername("ada.lovelace@ops_1-x")
        for bad in ["", String(repeating: "a", count: 65), "ada lovelace", "ada\nroot", "ädmin", "a'b", "a;b"] {
            #expect(throws: ServiceError.self, "\(bad.debugDescription)") { try AccountRules.checkUsername(bad) }
        }
        try AccountRules.checkUsername(String(repeating: "a", count: 64))
    }

    @Test func theSessionCookieIsFoundAmongOthers() {
        #expect(SessionCookie.value(in: "theme=dark; cc_session=ccs_abc; lang=zh") == "ccs_abc")
        #expect(SessionCookie.value(in: "cc_session=\"ccs_q\"") == "ccs_q")
        #expect(SessionCookie.value(in: "a=1, cc_session=ccs_joined") == "ccs_joined")
        #expect(SessionCookie.value(in: "xcc_session=ccs_no; cc_sessionx=ccs_no") == nil)
        #expect(SessionCookie.value(in: "cc_session=") == nil)
        #expect(SessionCookie.value(in: nil) == nil)
        #expect(SessionCookie.value(in: "=;;=;cc_session") == nil)
    }

    @Test func theSetCookieIsHttpOnlyAndStrict() {
        let value = SessionCookie.setCookie("ccs_x", maxAgeSeconds: 3600, secure: false)
        #expect(value == "cc_session=ccs_x; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600")
        #expect(SessionCookie.setCookie("ccs_x", maxAgeSeconds: 1, secure: true).hasSuffix("; Secure"))
        #expect(SessionCookie.clearCookie(secure: false).contains("Max-Age=0"))
    }

    @Test func bearerTokensAreRead() {
        #expect(CredentialText.bearer("Bearer cct_abc") == "cct_abc")
        #expect(CredentialText.bearer("bearer   cct_abc  ") == "cct_abc")
        #expect(CredentialText.bearer("Basic dXNlcjpwYXNz") == nil)
        #expect(CredentialText.bearer("Bearer") == nil)
        #expect(CredentialText.kind(of: "ccs_1") == .session)
        #expect(CredentialText.kind(of: "cct_1") == .apiToken)
        #expect(CredentialText.kind(of: "service-secret") == .other)
    }

    @Test func csrfIsCheckedOnCookieWritesOnly() {
        func refusal(_ method: String, byCookie: Bool, _ presented: String?) -> ErrorCode? {
            SessionCookie.csrfRefusal(method: method, byCookie: byCookie, presented: presented, expected: "tok", equal: ConstantTime.equal)?.code
        }
        #expect(refusal("POST", byCookie: true, nil) == .csrfMissing)
        #expect(refusal("POST", byCookie: true, "") == .csrfMissing)
        #expect(refusal("POST", byCookie: true, "tol") == .csrfMismatch)
        #expect(refusal("DELETE", byCookie: true, "tokk") == .csrfMismatch)
        #expect(refusal("POST", byCookie: true, "tok") == nil)
        #expect(refusal("GET", byCookie: true, nil) == nil)
        #expect(refusal("POST", byCookie: false, nil) == nil, "a bearer token carries no ambient authority")
    }

    @Test func constantTimeEqualityIsEquality() {
        #expect(ConstantTime.equal([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equal([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equal([1, 2], [1, 2, 3]))
        #expect(ConstantTime.equal([], []))
    }

    @Test func sha256IsTheLibrarys() {
        // FIPS 180-2's "abc" vector.
        #expect(SHA256Digest.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func passwordHashesAreYescryptAndVerify() async throws {
        let hash = try await PasswordHash.hash("correct horse battery")
        #expect(hash.hasPrefix("$y$"))
        #expect(await PasswordHash.verify("correct horse battery", against: hash))
        #expect(!(await PasswordHash.verify("correct horse batterY", against: hash)))
        #expect(!(await PasswordHash.verify("correct horse battery", against: "not a hash")))
        #expect(!(await PasswordHash.verify("correct horse battery", against: "")))
        let again = try await PasswordHash.hash("correct horse battery")
        #expect(again != hash, "each hash has its own salt")
    }
}

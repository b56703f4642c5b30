import Access
import Credentials
import Messaging
import Signatures
import Wire

/// The HTTP front's door: finds the credential of a request and checks it against its route's
/// requirement in `AccessTable`, with the CSRF rule on top. The order of the checks:
/// 1. an `.open` route (health, metrics, login) passes whatever it carries;
/// 2. `Authorization: Bearer <token>` (an API token, a session id or the service token) is the
///    credential when present, and needs no CSRF token: a script sends it on purpose, a browser
///    never adds it by itself;
/// 3. otherwise the `cc_session` cookie, which must hold a session id;
/// 4. `Gatekeeper.admit`: UNAUTHENTICATED (401) without a valid credential, ROLE_REQUIRED or
///    SERVICE_TOKEN_REQUIRED (403) with the wrong one;
/// 5. a state-changing request whose session came from the cookie needs `X-CSRF-Token` equal to
///    the session's token: CSRF_MISSING or CSRF_MISMATCH (403).
struct HTTPGate: Sendable {
    let gatekeeper: Gatekeeper

    func admit(route: String, request: HTTPRequest) async throws -> Principal? {
        let requirement = AccessTable.requirement(forRoute: route)
        guard requirement != .open else { return nil }
        let presented = Self.credential(of: request)
        if presented.byCookie, let cookie = presented.value, CredentialText.kind(of: cookie) != .session {
            throw ServiceError(.unauthenticated, "the \(SessionCookie.name) cookie holds no session id")
        }
        let principal = try await gatekeeper.admit(requirement, credential: presented.value.map { Array($0.utf8) }, call: route)
        // Only a request whose authority comes from the cookie needs the CSRF token: a stale cookie
        // on a call anyone may make grants nothing a forged request could abuse.
        if let refusal = SessionCookie.csrfRefusal(
            method: request.method, byCookie: presented.byCookie && principal?.kind == .session, presented: request.headers["X-Csrf-Token"],
            expected: principal?.csrfToken, equal: ConstantTime.equal)
        {
            throw refusal
        }
        return principal
    }

    /// The bearer token, else the session cookie.
    static func credential(of request: HTTPRequest) -> (value: String?, byCookie: Bool) {
        if let bearer = CredentialText.bearer(request.headers["Authorization"]) { return (bearer, false) }
        return (SessionCookie.value(in: request.headers["Cookie"]), true)
    }
}

import Access
import Signatures
import Wire

/// Decides whether a call may run: finds the principal of the credential it carries and checks it
/// against the call's requirement in `AccessTable`. The binary servers and coupon-center's HTTP
/// front both ask it, so the two doors cannot disagree.
public struct Gatekeeper: Sendable {
    public let policy: AccessPolicy
    private let serviceToken: [UInt8]?
    /// Looks a session id or API token up; nil for a service without the operator tables
    /// (rule-engine), which then knows only the service token.
    private let store: CredentialStore?

    public init(settings: AccessSettings, store: CredentialStore?) {
        policy = settings.policy
        serviceToken = settings.serviceToken.map { Array($0.utf8) }
        self.store = store
    }

    /// Who presents `credential`: the service, an operator, or nil when nothing was presented.
    /// A credential that is presented but not valid is UNAUTHENTICATED, never treated as absent.
    public func principal(presenting credential: [UInt8]?) async throws -> Principal? {
        guard let credential else { return nil }
        if let serviceToken, ConstantTime.equal(credential, serviceToken) { return .service }
        guard let text = String(validating: credential, as: UTF8.self), let store, let principal = try await store.principal(for: text)
        else {
            throw ServiceError(.unauthenticated, "the credential is unknown, expired or revoked")
        }
        return principal
    }

    /// The principal a call runs as, or the refusal. `.open` calls ignore any credential.
    public func admit(_ requirement: Requirement, credential: [UInt8]?, call: String) async throws -> Principal? {
        if requirement == .open { return nil }
        let principal: Principal?
        do {
            principal = try await self.principal(presenting: credential)
        } catch  where policy.refusal(requirement, principal: nil, call: call) == nil {
            // A call anyone may make (an end-user call without a configured service token, an
            // operator call with sign-in off) is not refused for a credential this service
            // cannot check: rule-engine knows no API tokens.
            principal = nil
        }
        if let refusal = policy.refusal(requirement, principal: principal, call: call) { throw refusal }
        return principal
    }

    /// The frame-level check of a binary server: the kind's requirement against the frame's credential.
    public func admit(kind: MessageKind, credential: [UInt8]?) async throws -> Principal? {
        try await admit(AccessTable.requirement(for: kind), credential: credential, call: kind.name)
    }
}

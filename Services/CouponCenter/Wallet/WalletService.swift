import Domain
import ServiceKit
import Wire

/// A user's side: the wallet, the profile tags operators set, and loyalty points.
struct WalletService: Sendable {
    let store: WalletStore

    func wallet(_ request: WalletRequest) async throws -> Wallet {
        try TemplateRules.identifier(request.userId, field: "userId")
        return Wallet(userId: request.userId, coupons: try await store.wallet(request.userId, status: request.status))
    }

    func setProfile(_ request: SetProfileRequest) async throws -> UserProfileView {
        try TemplateRules.identifier(request.userId, field: "userId")
        try TemplateRules.identifiers(request.tags, field: "tags")
        return try await store.setTags(request.userId, request.tags)
    }

    func grantPoints(_ request: GrantPointsRequest) async throws -> PointsBalance {
        try TemplateRules.identifier(request.userId, field: "userId")
        guard request.points > 0, request.points <= 1_000_000_000 else {
            throw ServiceError(.invalidArgument, "points: a whole number from 1 to 1000000000")
        }
        if let requestId = request.requestId { try TemplateRules.identifier(requestId, field: "requestId") }
        let fingerprint = RequestFingerprint([request.userId, String(request.points)])
        switch try await store.grantPoints(request.userId, request.points, requestId: request.requestId, fingerprint: fingerprint) {
        case .granted(let balance):
            return balance
        case .seenBefore(let record):
            let replayed = try StoredAnswers.replay(record, requestId: request.requestId ?? "", fingerprint: fingerprint, as: PointsBalance.self)
            return PointsBalance(userId: request.userId, points: replayed.points)
        }
    }
}

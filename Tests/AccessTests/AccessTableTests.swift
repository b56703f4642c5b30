import Access
import Testing
import Wire

/// The one table of who may call what: complete, and enforced as README "Sign-in and roles" says.
@Suite struct AccessTableTests {
    @Test func everyMessageKindHasARequirement() {
        let missing = MessageKind.names.keys.filter { AccessTable.kinds[$0] == nil }.map(\.name).sorted()
        #expect(missing.isEmpty, "kinds without an entry in AccessTable.kinds: \(missing)")
        let unnamed = AccessTable.kinds.keys.filter { MessageKind.names[$0] == nil }.map { String($0.rawValue, radix: 16) }
        #expect(unnamed.isEmpty, "AccessTable.kinds names kinds MessageKind does not: \(unnamed)")
    }

    @Test func aKindMissingFromTheTableNeedsAnAdmin() {
        #expect(AccessTable.requirement(for: MessageKind(rawValue: 0x7FFF)) == .role(.admin))
        #expect(AccessTable.requirement(forRoute: "POST /api/admin/new-thing") == .role(.admin))
    }

    @Test func adminCallsNeedTheAdminRole() {
        for kind: MessageKind in [
            .riskRulesSet, .riskRulesReload, .riskListAdd, .riskListRemove, .operatorCreate, .operatorRoleSet, .operatorDisable,
            .operatorPasswordSet, .tokenCreate, .tokenRevoke, .incidentAccept, .auditList,
        ] {
            #expect(AccessTable.requirement(for: kind) == .role(.admin), "\(kind)")
        }
        #expect(AccessTable.requirement(for: .templateCreate) == .role(.operator))
        #expect(AccessTable.requirement(for: .templateGet) == .role(.viewer))
        #expect(AccessTable.requirement(for: .claim) == .service)
    }

    static let viewer = Principal(name: "vera", kind: .session, role: .viewer, account: "vera")
    static let operatorUser = Principal(name: "olga", kind: .token, role: .operator, account: "olga")
    static let admin = Principal(name: "ada", kind: .session, role: .admin, account: "ada")
    static let enforced = AccessPolicy(operatorAuthRequired: true, serviceTokenRequired: true)

    @Test func withoutACredentialEveryGuardedCallIsUnauthenticated() {
        for requirement: Requirement in [.service, .authenticated, .role(.viewer), .role(.operator), .role(.admin)] {
            #expect(Self.enforced.refusal(requirement, principal: nil, call: "x")?.code == .unauthenticated, "\(requirement)")
        }
        #expect(Self.enforced.refusal(.open, principal: nil, call: "x") == nil)
    }

    @Test func rolesIncludeTheOnesBelow() {
        #expect(Self.enforced.refusal(.role(.viewer), principal: Self.viewer, call: "x") == nil)
        #expect(Self.enforced.refusal(.role(.operator), principal: Self.viewer, call: "x")?.code == .roleRequired)
        #expect(Self.enforced.refusal(.role(.operator), principal: Self.operatorUser, call: "x") == nil)
        #expect(Self.enforced.refusal(.role(.admin), principal: Self.operatorUser, call: "x")?.code == .roleRequired)
        #expect(Self.enforced.refusal(.role(.admin), principal: Self.admin, call: "x") == nil)
        let message = Self.enforced.refusal(.role(.admin), principal: Self.viewer, call: "risk_rules_set")?.message ?? ""
        #expect(message.contains("admin"), "the refusal names the role needed: \(message)")
    }

    @Test func theServiceTokenMakesEndUserCallsOnly() {
        #expect(Self.enforced.refusal(.service, principal: .service, call: "claim") == nil)
        #expect(Self.enforced.refusal(.role(.viewer), principal: .service, call: "template_get")?.code == .roleRequired)
        #expect(Self.enforced.refusal(.service, principal: Self.viewer, call: "claim")?.code == .serviceTokenRequired)
        #expect(Self.enforced.refusal(.service, principal: Self.operatorUser, call: "claim") == nil)
        let open = AccessPolicy(operatorAuthRequired: true, serviceTokenRequired: false)
        #expect(open.refusal(.service, principal: nil, call: "claim") == nil, "without a configured service token end-user calls are open")
    }

    @Test func switchingOperatorAuthOffOpensRoleCallsOnly() {
        let off = AccessPolicy(operatorAuthRequired: false, serviceTokenRequired: true)
        #expect(off.refusal(.role(.admin), principal: nil, call: "x") == nil)
        #expect(off.refusal(.service, principal: nil, call: "claim")?.code == .unauthenticated)
        #expect(off.refusal(.authenticated, principal: nil, call: "auth_me")?.code == .unauthenticated)
    }

    @Test func theNewCodesHaveTheirStatuses() {
        #expect(ErrorCode.unauthenticated.httpStatus == 401)
        #expect(ErrorCode.loginFailed.httpStatus == 401)
        #expect(ErrorCode.roleRequired.httpStatus == 403)
        #expect(ErrorCode.csrfMissing.httpStatus == 403)
        #expect(ErrorCode.csrfMismatch.httpStatus == 403)
        #expect(ErrorCode.serviceTokenRequired.httpStatus == 403)
        #expect(ErrorCode.accountLocked.httpStatus == 429)
        #expect((1600...1649).contains(ErrorCode.unauthenticated.rawValue) && (1310...1329).contains(ErrorCode.roleRequired.rawValue))
        #expect((1420...1429).contains(ErrorCode.accountLocked.rawValue))
    }
}

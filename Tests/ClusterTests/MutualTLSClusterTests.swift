import CouponClient
import Foundation
import Messaging
import ServiceKit
import TestSupport
import Testing
import Wire

/// Mutual TLS (README "Mutual TLS") with the real executables and certificates from the real
/// `Deploy/certs`: everything works over tls+tcp, and every client that is not allowed — plaintext,
/// another CA, a name not in the allow-list — gets no answer while allowed ones keep being served.
/// A refused client is not told why (the handshake fails and nng keeps redialling), so a refusal
/// shows as a call that is never answered; each such call has a short deadline of its own, and the
/// tests assert only that it was not answered, never how long anything took.
@Suite(.serialized) struct MutualTLSClusterTests {
    /// How long a refused client is given to get an answer it must not get.
    static let refusedCallMilliseconds = Patience.milliseconds(2_000)

    static func withTLSCluster(
        environment: [String: String] = [:], _ body: (TestCluster, TestCertificates) async throws -> Void
    ) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        try await TestCluster.with(environment: environment, certificates: certificates) { cluster in try await body(cluster, certificates) }
    }

    /// Whether a ping with `tls` at `url` is answered (nil: plaintext).
    static func pingAnswered(_ url: String, tls: TLSConfiguration?, timeoutMilliseconds: Int = refusedCallMilliseconds) async throws -> Bool {
        let client = try ServiceClient(service: "probe", urls: [url], timeoutMilliseconds: timeoutMilliseconds, tls: tls)
        defer { client.close() }
        return (try? await client.call(PingRequest())) != nil
    }

    /// Whether a ping with `tls` at `url` goes unanswered within `refusedCallMilliseconds`.
    static func refused(_ url: String, tls: TLSConfiguration?) async throws -> Bool {
        try await !pingAnswered(url, tls: tls)
    }

    @Test func claimAndUseGoThroughEveryServiceOverTLS() async throws {
        let eventsURL = "tls+tcp://127.0.0.1:\(try freeLocalPort())"
        try await Self.withTLSCluster(environment: ["COUPON_EVENTS_URL": eventsURL]) { cluster, certificates in
            #expect(cluster.couponCenterURLs.allSatisfy { $0.hasPrefix("tls+tcp://") })
            let client = try cluster.client()
            defer { client.close() }
            // coupon-center reaches both services over TLS: its ping reports them healthy.
            let pong = try await client.call(PingRequest())
            #expect(pong.dependencies.allSatisfy { $0.healthy }, "\(pong.dependencies)")

            // A FREE coupon: its claim is refused when risk-control does not answer (fail-closed by
            // default), and its discount comes from rule-engine, so both calls went over TLS.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let templateId = try await client.call(
                CreateTemplateRequest(
                    spec: TemplateSpec(
                        name: "免单 TLS", type: .free, maxDiscountCents: 2_000, startMilliseconds: now - 60_000, endMilliseconds: now + 86_400_000,
                        totalStock: 100_000, perUserLimit: 1))
            ).templateId
            let couponId = try await client.call(ClaimRequest(userId: "tls-user", templateId: templateId, channel: "app")).couponId
            let used = try await client.call(UseRequest(orderId: "tls-order", couponId: couponId, amountCents: 5_000))
            #expect(used.discountCents == 2_000)
            #expect(used.payableCents == 3_000)
            let log = cluster.allProcesses.map(\.log).joined(separator: "\n")
            #expect(log.contains("tls=mutual"), "a service did not log that it listens with mutual TLS")

            // The operator's tools over TLS: couponctl pings all three, and tails the events PUB
            // socket (TLS too). PUB keeps nothing for a subscriber not yet connected, so claims go
            // on until the tail has printed one.
            let addresses = [
                "COUPON_CENTER_URL": cluster.couponCenterURLs[0], "RULE_ENGINE_URL": cluster.ruleEngineURL,
                "RISK_CONTROL_URL": cluster.riskControlURL,
            ]
            let ping = try await runTool("couponctl", ["ping", "--all"], environment: certificates.environment.merging(addresses) { $1 })
            #expect(ping.status == 0, "\(ping.output)")
            let plaintext = try await runTool(
                "couponctl", ["ping", "--url", "tcp://" + cluster.ruleEngineURL.dropFirst(TLSConfiguration.scheme.count), "--timeout-ms", "1000"])
            #expect(plaintext.status == 3, "a plaintext couponctl was answered: \(plaintext.output)")

            let tail = try ChildProcess(
                name: "couponctl-events", executable: "couponctl",
                arguments: ["events", "tail", "--events-url", eventsURL, "--kind", "coupon.", "--count", "1", "--json"],
                environment: certificates.environment)
            defer { tail.removeLog() }
            var claims = 0
            try await Patience.waitUntil("couponctl events tail printing an event over TLS", every: .milliseconds(200)) {
                guard tail.isRunning else { return true }
                claims += 1
                _ = try await client.call(ClaimRequest(userId: "tls-tail-\(claims)", templateId: templateId, channel: "app"))
                return false
            }
            #expect(tail.exitStatus == 0, "\(tail.log)")
            #expect(tail.log.contains(templateId), "\(tail.log)")
        }
    }

    @Test func plaintextClientsAreRefusedAndServingContinues() async throws {
        try await Self.withTLSCluster { cluster, _ in
            for (service, url) in [
                ("coupon-center", cluster.couponCenterURLs[0]), ("rule-engine", cluster.ruleEngineURL), ("risk-control", cluster.riskControlURL),
            ] {
                let plaintext = "tcp://" + url.dropFirst(TLSConfiguration.scheme.count)
                let raw = try RequestClient(configuration: .init(urls: [plaintext], defaultTimeoutMilliseconds: Self.refusedCallMilliseconds))
                defer { raw.close() }
                let ping = FrameCodec.encode(Frame(header: FrameHeader(kind: .ping, requestId: 1), body: []))
                await #expect(throws: MessagingError.self, "\(service) answered a plaintext client") { try await raw.call(ping) }
                #expect(
                    try await Self.pingAnswered(url, tls: try cluster.clientTLS(dialing: service), timeoutMilliseconds: Patience.callMilliseconds),
                    "\(service) stopped serving an allowed client after refusing a plaintext one")
            }
            #expect(cluster.allProcesses.allSatisfy { $0.isRunning })
        }
    }

    @Test func clientsOfAnotherCAOrNotInTheAllowListAreRefused() async throws {
        try await Self.withTLSCluster { cluster, certificates in
            let url = cluster.couponCenterURLs[0]
            let allowed = try #require(try certificates.dialing("coupon-center", as: "couponctl"))
            #expect(try await Self.pingAnswered(url, tls: allowed, timeoutMilliseconds: Patience.callMilliseconds))

            // Another CA's couponctl: the right name, the wrong root.
            let foreign = try await TestCertificates.make(["couponctl", "coupon-center"])
            defer { foreign.remove() }
            let foreignIdentity = try #require(try foreign.dialing("coupon-center", as: "couponctl"))
            var otherCA = allowed
            otherCA.certificatePEM = foreignIdentity.certificatePEM
            otherCA.privateKeyPEM = foreignIdentity.privateKeyPEM
            #expect(try await Self.refused(url, tls: otherCA), "a certificate of another CA was accepted")

            // The same root, names not in coupon-center's allow-list: one made for the test, and
            // rule-engine's own, a real service that does not call coupon-center.
            try await certificates.add(["intruder"])
            for name in ["intruder", "rule-engine"] {
                let notAllowed = try certificates.dialing("coupon-center", as: name)
                #expect(try await Self.refused(url, tls: notAllowed), "\(name)'s certificate was accepted though not in the allow-list")
            }
            #expect(try await Self.pingAnswered(url, tls: allowed, timeoutMilliseconds: Patience.callMilliseconds))
            #expect(cluster.allProcesses.allSatisfy { $0.isRunning })
        }
    }

    @Test func aServerWhoseCertificateNameDoesNotMatchIsRefusedByTheClient() async throws {
        try await Self.withTLSCluster { cluster, certificates in
            // risk-control's address, dialed by a client that expects rule-engine there.
            let url = cluster.riskControlURL
            #expect(try await Self.refused(url, tls: try certificates.dialing("rule-engine", as: "couponctl")))
            // Trusting risk-control's issuer but requiring the name rule-engine: the name check
            // alone refuses it.
            var wrongName = try #require(try certificates.dialing("risk-control", as: "couponctl"))
            wrongName.serverName = "rule-engine"
            #expect(try await Self.refused(url, tls: wrongName), "a server certificate for another name was accepted")
            #expect(
                try await Self.pingAnswered(
                    url, tls: try certificates.dialing("risk-control", as: "couponctl"), timeoutMilliseconds: Patience.callMilliseconds))
        }
    }

    @Test func servicesWithTLSOnRefuseToStartOnPlaintextOrMissingCertificates() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let port = try freeLocalPort()
        let cases: [(executable: String, environment: [String: String], expected: String)] = [
            ("rule-engine", ["RULE_ENGINE_URL": "tcp://127.0.0.1:\(port)"], "is not tls+tcp:// but TLS is on"),
            ("risk-control", ["RISK_CONTROL_URL": "tls+tcp://127.0.0.1:\(port),tcp://127.0.0.1:\(port + 1)"], "is not tls+tcp:// but TLS is on"),
            (
                "coupon-center",
                ["COUPON_CENTER_URL": "tls+tcp://127.0.0.1:\(port)", "RULE_ENGINE_URL": "tcp://127.0.0.1:\(port + 1)"],
                "is not tls+tcp:// but TLS is on"
            ),
            (
                "rule-engine", ["RULE_ENGINE_URL": "tls+tcp://127.0.0.1:\(port)", "COUPON_TLS_NAME": "nobody"],
                "cannot read the certificate of nobody"
            ),
            ("rule-engine", ["RULE_ENGINE_URL": "tls+tcp://127.0.0.1:\(port)", "COUPON_TLS_PEERS": "../ca/root"], "is not a certificate name"),
        ]
        for (executable, environment, expected) in cases {
            let process = try ChildProcess(
                name: executable, executable: executable, environment: certificates.environment.merging(environment) { _, own in own })
            let status = await process.wait(timeout: Patience.limit)
            if status == nil { await process.killNow() }
            #expect(status == 2, "\(executable) \(environment): \(process.log)")
            #expect(process.log.contains(expected), "\(executable) \(environment): \(process.log)")
            process.removeLog()
        }
        // With TLS off, a tls+tcp:// address has no certificate: refused too.
        let plain = try ChildProcess(name: "rule-engine", executable: "rule-engine", environment: ["RULE_ENGINE_URL": "tls+tcp://127.0.0.1:\(port)"])
        let status = await plain.wait(timeout: Patience.limit)
        if status == nil { await plain.killNow() }
        #expect(status == 2, "\(plain.log)")
        #expect(plain.log.contains("but TLS is off"), "\(plain.log)")
        plain.removeLog()
    }
}

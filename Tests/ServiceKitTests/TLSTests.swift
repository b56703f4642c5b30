import Messaging
import ServiceKit
import TestSupport
import Testing

/// Mutual TLS below the executables: the settings' checks, and an in-process req/rep echo over
/// tls+tcp with certificates from the real `Deploy/certs`, which is how mbedTLS's acceptance of a
/// per-name issuer as the end of a chain (the allow-list mechanism) is shown.
@Suite struct TLSTests {
    static func settings(_ environment: [String: String], name: String = "rule-engine") throws -> RPCServiceSettings {
        let options = RPCServiceSettings.options(service: name, listenEnv: "LISTEN_URL", defaultListen: "tcp://127.0.0.1:7101")
        guard case .run(let values) = try ConfigParser.parse(program: "t", summary: "s", options: options, arguments: [], environment: environment)
        else { throw ConfigError("expected values") }
        return try RPCServiceSettings(values)
    }

    @Test func tlsOffNeedsNoFilesAndRefusesTLSAddresses() throws {
        let plain = try Self.settings([:])
        #expect(!plain.tls.enabled)
        #expect(plain.tls.listening == nil)
        #expect(try plain.tls.dialing("risk-control") == nil)
        let error = #expect(throws: ConfigError.self) { try Self.settings(["LISTEN_URL": "tls+tcp://127.0.0.1:1"]) }
        #expect(error?.message.contains("TLS is off") == true)
    }

    @Test func tlsOnRefusesPlaintextAddressesMissingFilesAndBadNames() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let on = ["COUPON_TLS": "on", "COUPON_TLS_DIR": certificates.directory]
        let plaintext = #expect(throws: ConfigError.self) { try Self.settings(on.merging(["LISTEN_URL": "tcp://127.0.0.1:1"]) { $1 }) }
        #expect(plaintext?.message.contains("--listen / LISTEN_URL: 'tcp://127.0.0.1:1' is not tls+tcp:// but TLS is on") == true)
        let noDirectory = #expect(throws: ConfigError.self) { try Self.settings(["COUPON_TLS": "on", "LISTEN_URL": "tls+tcp://127.0.0.1:1"]) }
        #expect(noDirectory?.message.contains("COUPON_TLS_DIR") == true)
        let tlsOn = on.merging(["LISTEN_URL": "tls+tcp://127.0.0.1:1"]) { $1 }
        let missing = #expect(throws: ConfigError.self) { try Self.settings(tlsOn.merging(["COUPON_TLS_PEERS": "coupon-center,stranger"]) { $1 }) }
        #expect(missing?.message.contains("issuer of stranger") == true)
        for hostile in ["../ca/root", "Rule-Engine", "", "a/b", String(repeating: "x", count: 64), "é"] {
            #expect(throws: ConfigError.self, "\(hostile)") { try Self.settings(tlsOn.merging(["COUPON_TLS_NAME": hostile]) { $1 }) }
        }
        #expect(throws: ConfigError.self) { try Self.settings(tlsOn.merging(["COUPON_TLS": "maybe"]) { $1 }) }
        let good = try Self.settings(tlsOn)
        #expect(good.tls.enabled && good.tls.name == "rule-engine" && good.tls.peers == TLSSettings.defaultPeers)
        #expect(try good.tls.dialing("risk-control")?.serverName == "risk-control")
        #expect(throws: ConfigError.self) { try good.tls.dialing("../x") }
    }

    @Test func messagingRefusesAddressesThatDisagreeWithItsTLS() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let tls = try certificates.settings(name: "rule-engine").listening
        #expect(throws: MessagingError.self) { try ReplyServer(configuration: .init(urls: ["tcp://127.0.0.1:0"], tls: tls)) }
        #expect(throws: MessagingError.self) { try ReplyServer(configuration: .init(urls: ["tls+tcp://127.0.0.1:0"])) }
        #expect(throws: MessagingError.self) { try Publisher(url: "tcp://127.0.0.1:0", tls: tls) }
        // A dialer must say whose certificate it expects.
        #expect(throws: MessagingError.self) {
            try RequestClient(configuration: .init(urls: ["tls+tcp://127.0.0.1:1"], tls: tls))
        }
    }

    @Test func echoOverMutualTLSAnswersAllowedPeersOnly() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        try await certificates.add(["intruder"])
        let server = try ReplyServer(
            configuration: .init(urls: ["tls+tcp://127.0.0.1:0"], concurrency: 4, tls: try certificates.settings(name: "rule-engine").listening))
        #expect(server.boundURLs.allSatisfy { $0.hasPrefix("tls+tcp://127.0.0.1:") && !$0.hasSuffix(":0") }, "\(server.boundURLs)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await server.run { $0 } }
            defer { server.shutdown() }
            let allowed = try RequestClient(
                configuration: .init(
                    urls: server.boundURLs, defaultTimeoutMilliseconds: Patience.callMilliseconds,
                    tls: try certificates.dialing("rule-engine", as: "coupon-center")))
            defer { allowed.close() }
            #expect(try await allowed.call([1, 2, 3]) == [1, 2, 3])

            let refusedMilliseconds = Patience.milliseconds(2_000)
            let notAllowed = try RequestClient(
                configuration: .init(
                    urls: server.boundURLs, defaultTimeoutMilliseconds: refusedMilliseconds,
                    tls: try certificates.dialing("rule-engine", as: "intruder")))
            defer { notAllowed.close() }
            await #expect(throws: MessagingError.self) { try await notAllowed.call([4]) }

            var wrongName = try #require(try certificates.dialing("rule-engine", as: "coupon-center"))
            wrongName.serverName = "risk-control"
            let misdirected = try RequestClient(
                configuration: .init(urls: server.boundURLs, defaultTimeoutMilliseconds: refusedMilliseconds, tls: wrongName))
            defer { misdirected.close() }
            await #expect(throws: MessagingError.self) { try await misdirected.call([5]) }

            #expect(try await allowed.call([6]) == [6])
        }
    }
}

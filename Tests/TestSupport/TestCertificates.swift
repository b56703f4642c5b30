import Foundation
import Messaging
import ServiceKit

/// A folder of certificates made by the real `Deploy/certs` (openssl), for tests of mutual TLS,
/// and the TLS configurations a test's own clients use from it.
public struct TestCertificates: Sendable {
    public let directory: String

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `Deploy/certs` into a new temporary folder with `names` (its defaults when empty).
    public static func make(_ names: [String] = []) async throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("coupon-certs-\(UUID().uuidString.prefix(8))").path
        let certificates = TestCertificates(directory: directory)
        try await certificates.add(names)
        return certificates
    }

    /// Runs `Deploy/certs` again on this folder: makes the names not yet there, keeps the rest.
    public func add(_ names: [String]) async throws {
        let script = Self.repository.appendingPathComponent("Deploy/certs").path
        let process = try ChildProcess(name: "deploy-certs", path: script, arguments: [directory] + names, environment: [:])
        let status = await process.wait(timeout: Patience.limit)
        if status == nil { await process.killNow() }
        let log = process.log
        process.removeLog()
        guard status == 0 else { throw TestFailure("Deploy/certs \(directory) \(names) failed (\(String(describing: status))):\n\(log)") }
    }

    /// The settings a process called `name` would build with TLS on and these peers allowed.
    public func settings(name: String, peers: [String] = TLSSettings.defaultPeers) throws -> TLSSettings {
        let values = try ConfigParser.parse(
            program: "test", summary: "", options: TLSSettings.options(name: name), arguments: [],
            environment: ["COUPON_TLS": "on", "COUPON_TLS_DIR": directory, "COUPON_TLS_NAME": name, "COUPON_TLS_PEERS": peers.joined(separator: ",")])
        guard case .run(let parsed) = values else { throw TestFailure("TLS options printed help") }
        return try TLSSettings(parsed)
    }

    /// A dialer of `service` presenting `name`'s certificate.
    public func dialing(_ service: String, as name: String) throws -> TLSConfiguration? {
        try settings(name: name, peers: [service]).dialing(service)
    }

    /// The environment that turns TLS on for a child process.
    public var environment: [String: String] { ["COUPON_TLS": "on", "COUPON_TLS_DIR": directory] }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

import Foundation
import Messaging
import Synchronization

/// A webhook receiver in the test process (Messaging's HTTPServer on a free port): it keeps every
/// POST it answered 2xx for, and can answer 500 to its first `failFirst` POSTs, or always to the
/// events in `failEvents`, to play a receiver that is down for a while or refuses one event; and
/// can take its first `answerLateFirst` POSTs but answer them only after `lateBy`, to play a
/// receiver whose answer the sender gave up on (the sender then delivers those events again).
public final class WebhookReceiver: Sendable {
    public struct Receipt: Sendable {
        public var eventId: String
        public var timestamp: String
        public var signature: String
        public var body: [UInt8]
    }

    private struct State {
        var receipts: [Receipt] = []
        var failuresLeft: Int
        var lateLeft: Int
        var refused = 0
    }

    private let server: HTTPServer
    private let state: Mutex<State>
    private let failEvents: Set<String>
    private let lateBy: Duration
    /// Where the coupon-centers POST.
    public var url: String { server.url + "/hooks/events" }

    public init(failFirst: Int = 0, failEvents: Set<String> = [], answerLateFirst: Int = 0, lateBy: Duration = .zero) throws {
        server = try HTTPServer(url: "http://127.0.0.1:0")
        state = Mutex(State(failuresLeft: failFirst, lateLeft: answerLateFirst))
        self.failEvents = failEvents
        self.lateBy = lateBy
    }

    /// Serves until `stop()`; run it as a child task beside the test's body.
    public func serve() async {
        await server.run { [self] request in
            let eventId = request.headers["X-Coupon-Event-Id"] ?? ""
            let (accepted, late) = state.withLock { state -> (Bool, Bool) in
                if request.method != "POST" || state.failuresLeft > 0 || failEvents.contains(eventId) {
                    state.failuresLeft = max(0, state.failuresLeft - 1)
                    state.refused += 1
                    return (false, false)
                }
                state.receipts.append(
                    Receipt(
                        eventId: eventId, timestamp: request.headers["X-Coupon-Timestamp"] ?? "",
                        signature: request.headers["X-Coupon-Signature"] ?? "", body: request.body))
                guard state.lateLeft > 0 else { return (true, false) }
                state.lateLeft -= 1
                return (true, true)
            }
            if late { try? await Task.sleep(for: lateBy) }
            return HTTPResponse(status: accepted ? 204 : 500, body: accepted ? [] : Array(#"{"error":"try later"}"#.utf8))
        }
    }

    public func stop() async { await server.shutdown() }

    public var receipts: [Receipt] { state.withLock { $0.receipts } }
    public var eventIds: Set<String> { Set(receipts.map(\.eventId)) }
    /// POSTs answered 500.
    public var refusedCount: Int { state.withLock { $0.refused } }
}

extension WebhookReceiver.Receipt {
    /// Whether `X-Coupon-Signature` is what the real `openssl dgst -sha256 -hmac SECRET` computes
    /// over "<X-Coupon-Timestamp>.<body>" (README's recipe for receivers).
    public func verifiedByOpenSSL(secret: String) async throws -> Bool {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-\(UUID().uuidString.prefix(8)).signed")
        try Data(Array("\(timestamp).".utf8) + body).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = try ChildProcess(
            name: "openssl-dgst", path: "/usr/bin/openssl", arguments: ["dgst", "-sha256", "-hmac", secret, file.path], environment: [:])
        defer { process.removeLog() }
        guard await process.wait(timeout: Patience.limit) == 0 else { throw TestFailure("openssl dgst failed:\n\(process.log)") }
        // "HMAC-SHA2-256(<file>)= <hex>"
        guard let digest = process.log.split(separator: "=").last?.trimmingCharacters(in: .whitespacesAndNewlines), digest.count == 64 else {
            throw TestFailure("openssl dgst printed no digest:\n\(process.log)")
        }
        return signature == "sha256=\(digest)"
    }
}

import Foundation
import Messaging
import Synchronization
import Wire

/// A typed client for one service over the binary protocol. Every failure is a `ServiceError`:
/// the server's own error reply, or `deadlineExceeded` / `dependencyUnavailable` when the call
/// could not be completed, so callers handle one error type.
public final class ServiceClient: Sendable {
    private let transport: RequestClient
    private let nextRequestId: Atomic<UInt64>
    public let service: String
    public let urls: [String]
    public let defaultTimeoutMilliseconds: Int
    /// The largest reply accepted, the same bound the transport was configured with.
    public let maxFrameBytes: Int
    /// Sent in every request's credential block: an API token, a session id or the service token.
    public let credential: String?

    /// `urls` may name several replicas of the service; requests are spread across the connected ones.
    /// `tls`: mutual TLS (every URL `tls+tcp://`), or nil for plaintext. `credential` goes in
    /// every request's credential block.
    public init(
        service: String, urls: [String], timeoutMilliseconds: Int = 2_000, maxFrameBytes: Int = FrameHeader.defaultMaxFrameBytes,
        tls: TLSConfiguration? = nil, credential: String? = nil
    ) throws(ServiceError) {
        if let credential {
            guard (1...Frame.maxCredentialBytes).contains(credential.utf8.count) else {
                throw ServiceError(.invalidArgument, "a credential is 1 to \(Frame.maxCredentialBytes) bytes")
            }
        }
        self.credential = credential
        do {
            transport = try RequestClient(
                configuration: .init(urls: urls, maxFrameBytes: maxFrameBytes, defaultTimeoutMilliseconds: timeoutMilliseconds, tls: tls))
        } catch {
            throw ServiceError(.invalidArgument, "cannot dial \(service) at \(urls.joined(separator: ",")): \(error)")
        }
        var generator = SystemRandomNumberGenerator()
        nextRequestId = Atomic(generator.next() >> 16)
        self.service = service
        self.urls = urls
        self.defaultTimeoutMilliseconds = timeoutMilliseconds
        self.maxFrameBytes = maxFrameBytes
    }

    public func close() { transport.close() }

    /// Calls `request` and returns its typed reply. The frame carries the deadline so the server
    /// does not start work its caller has stopped waiting for.
    public func call<R: WireRequest>(_ request: R, timeoutMilliseconds: Int? = nil) async throws(ServiceError) -> R.Response {
        let timeout = max(1, timeoutMilliseconds ?? defaultTimeoutMilliseconds)
        let requestId = nextRequestId.wrappingAdd(1, ordering: .relaxed).newValue
        let deadline = Self.deadline(afterMilliseconds: timeout, now: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
        let frame: [UInt8]
        do {
            frame = try Envelope.request(request, requestId: requestId, deadlineMilliseconds: deadline, credential: credential)
        } catch {
            throw ServiceError(.invalidArgument, "cannot encode \(R.kind): \(error)")
        }
        let reply = try await exchange(frame, kind: R.kind, timeoutMilliseconds: timeout)
        return try Envelope.decodeReply(reply, for: R.self, requestId: requestId, maxFrameBytes: maxFrameBytes)
    }

    /// The header's absolute deadline `timeout` milliseconds after `now` (Unix milliseconds). A
    /// timeout so long that the sum leaves the signed 64-bit range PROTOCOL.md allows is clamped to
    /// Int64.max, which a server reads as "practically no deadline", rather than trapping.
    static func deadline(afterMilliseconds timeout: Int, now: Int64) -> UInt64 {
        let (sum, overflow) = max(0, now).addingReportingOverflow(Int64(clamping: max(1, timeout)))
        return UInt64(overflow ? Int64.max : sum)
    }

    /// Sends raw bytes and returns the raw reply: for tools and tests that speak the wire directly.
    public func exchange(_ frame: [UInt8], kind: MessageKind, timeoutMilliseconds: Int? = nil) async throws(ServiceError) -> [UInt8] {
        do {
            return try await transport.call(frame, timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            if error.isTimeout {
                throw ServiceError(
                    .deadlineExceeded, "\(service) did not answer \(kind) within \(timeoutMilliseconds ?? defaultTimeoutMilliseconds) ms")
            }
            throw ServiceError(.dependencyUnavailable, "\(service) \(kind): \(error)")
        }
    }
}

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

    /// `urls` may name several replicas of the service; requests are spread across the connected ones.
    public init(service: String, urls: [String], timeoutMilliseconds: Int = 2_000, maxFrameBytes: Int = FrameHeader.defaultMaxFrameBytes)
        throws(ServiceError)
    {
        do {
            transport = try RequestClient(
                configuration: .init(urls: urls, maxFrameBytes: maxFrameBytes, defaultTimeoutMilliseconds: timeoutMilliseconds))
        } catch {
            throw ServiceError(.invalidArgument, "cannot dial \(service) at \(urls.joined(separator: ",")): \(error)")
        }
        var generator = SystemRandomNumberGenerator()
        nextRequestId = Atomic(generator.next() >> 16)
        self.service = service
        self.urls = urls
        self.defaultTimeoutMilliseconds = timeoutMilliseconds
    }

    public func close() { transport.close() }

    /// Calls `request` and returns its typed reply. The frame carries the deadline so the server
    /// does not start work its caller has stopped waiting for.
    public func call<R: WireRequest>(_ request: R, timeoutMilliseconds: Int? = nil) async throws(ServiceError) -> R.Response {
        let timeout = max(1, timeoutMilliseconds ?? defaultTimeoutMilliseconds)
        let requestId = nextRequestId.wrappingAdd(1, ordering: .relaxed).newValue
        let deadline = UInt64(Int64(Date().timeIntervalSince1970 * 1000) + Int64(timeout))
        let frame: [UInt8]
        do {
            frame = try Envelope.request(request, requestId: requestId, deadlineMilliseconds: deadline)
        } catch {
            throw ServiceError(.invalidArgument, "cannot encode \(R.kind): \(error)")
        }
        let reply = try await exchange(frame, kind: R.kind, timeoutMilliseconds: timeout)
        return try Envelope.decodeReply(reply, for: R.self, requestId: requestId)
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

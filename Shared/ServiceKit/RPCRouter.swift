import Foundation
import Wire

/// What a handler knows about the call it serves.
public struct RequestContext: Sendable {
    public var header: FrameHeader
    public var logger: Logger
    public var receivedAt: ContinuousClock.Instant

    /// Milliseconds the caller is still waiting, nil when it sent no deadline. Handlers pass the
    /// smaller of this and their own budget to downstream calls.
    public var remainingMilliseconds: Int? {
        guard header.deadlineMilliseconds > 0 else { return nil }
        return Int(Int64(bitPattern: header.deadlineMilliseconds) - unixMilliseconds())
    }
}

public func unixMilliseconds() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
}

/// Maps each message kind to its typed handler. Built once before serving, then immutable.
/// Turns any incoming byte string into exactly one reply frame: the handler's answer, or an error
/// reply whose code says what was wrong (bad frame, unknown kind, malformed body, deadline passed,
/// a `ServiceError` from the handler, or `internalError` for anything unexpected).
public struct RPCRouter: Sendable {
    public typealias RawHandler = @Sendable (FrameHeader, [UInt8], RequestContext) async throws -> [UInt8]

    private var routes: [MessageKind: RawHandler] = [:]
    public let service: String
    public let metrics: Metrics
    public let logger: Logger
    public let maxFrameBytes: Int
    /// Turns a library's error (a dropped database connection, say) into the code callers see;
    /// nil leaves it an internal error.
    public var translateError: @Sendable (any Error) -> ServiceError? = { _ in nil }

    public init(service: String, metrics: Metrics, logger: Logger, maxFrameBytes: Int = FrameHeader.defaultMaxFrameBytes) {
        self.service = service
        self.metrics = metrics
        self.logger = logger
        self.maxFrameBytes = maxFrameBytes
        metrics.describe("calls_total", type: "counter", help: "Calls served, by call and result code")
        metrics.describe("call_errors_total", type: "counter", help: "Calls answered with an error, by call and code")
        metrics.describe("call_duration_seconds", type: "histogram", help: "Time from receipt to reply, by call")
    }

    public mutating func register<R: WireRequest>(
        _ type: R.Type, _ handler: @escaping @Sendable (R, RequestContext) async throws -> R.Response
    ) {
        routes[R.kind] = { _, body, context in
            let request: R
            do {
                request = try WireBody.decode(R.self, from: body)
            } catch {
                throw ServiceError(.malformedBody, "\(R.kind) body: \(error)")
            }
            return try WireBody.encode(try await handler(request, context))
        }
    }

    public var kinds: [MessageKind] { Array(routes.keys) }

    /// The reply to one frame. Never throws, never returns nothing: even garbage gets an answer.
    public func handle(_ bytes: [UInt8]) async -> [UInt8] {
        let started = ContinuousClock.now
        let header: FrameHeader
        let frame: Frame
        do {
            frame = try FrameCodec.decode(bytes, maxFrameBytes: maxFrameBytes)
            header = frame.header
        } catch {
            let readable = try? FrameCodec.decodeHeader(bytes)
            record("invalid_frame", error.errorCode, started)
            logger.warning("refused frame", [("error", error.description), ("frame.bytes", String(bytes.count))])
            return Envelope.errorReply(to: readable, ServiceError(error.errorCode, error.description))
        }
        let call = header.kind.name
        guard !frame.isReply else {
            record(call, .badFrame, started)
            return Envelope.errorReply(to: header, ServiceError(.badFrame, "a reply frame was sent as a request"))
        }
        guard let route = routes[header.kind] else {
            record("unknown_kind", .unknownMessageKind, started)
            return Envelope.errorReply(
                to: header, ServiceError(.unknownMessageKind, "\(service) does not serve message kind \(header.kind.rawValue)"))
        }
        let context = RequestContext(
            header: header, logger: logger.with([("request.id", String(header.requestId)), ("call", call)]),
            receivedAt: started)
        if let remaining = context.remainingMilliseconds, remaining <= 0 {
            record(call, .deadlineExceeded, started)
            return Envelope.errorReply(to: header, ServiceError(.deadlineExceeded, "deadline passed before \(call) started"))
        }
        do {
            let body = try await route(header, frame.body, context)
            record(call, .ok, started)
            return Envelope.reply(to: header, body: body)
        } catch let error as ServiceError {
            record(call, error.code, started)
            if error.code.httpStatus >= 500 {
                context.logger.warning("call failed", [("error", error.description)])
            }
            return Envelope.errorReply(to: header, error)
        } catch {
            if let translated = translateError(error) {
                record(call, translated.code, started)
                context.logger.warning("call failed", [("error", translated.description)])
                return Envelope.errorReply(to: header, translated)
            }
            record(call, .internalError, started)
            context.logger.error("call failed unexpectedly", [("error", "\(error)")])
            return Envelope.errorReply(to: header, ServiceError(.internalError, "\(call) failed inside \(service)"))
        }
    }

    private func record(_ call: String, _ code: ErrorCode, _ started: ContinuousClock.Instant) {
        let micros = (ContinuousClock.now - started).wholeMicroseconds
        metrics.increment("calls_total", [("call", call), ("code", code.name)])
        if code != .ok { metrics.increment("call_errors_total", [("call", call), ("code", code.name)]) }
        metrics.observe("call_duration_seconds", [("call", call)], microseconds: micros)
    }
}

/// The messages every service answers: `ping` (with its dependencies' health) and `service_stats`.
extension RPCRouter {
    public mutating func registerStandardHandlers(
        instance: String, startedAt: ContinuousClock.Instant,
        dependencies: @escaping @Sendable () async -> [DependencyStatus]
    ) {
        let service = self.service
        let metrics = self.metrics
        register(PingRequest.self) { _, _ in
            PingResponse(
                service: service, instance: instance, version: ServiceInfo.version,
                uptimeMilliseconds: (ContinuousClock.now - startedAt).wholeMilliseconds,
                dependencies: await dependencies())
        }
        register(ServiceStatsRequest.self) { _, _ in
            ServiceStatsResponse(service: service, calls: metrics.callStats())
        }
    }
}

public enum ServiceInfo {
    public static let version = "0.1.0"

    /// A random id for this process, to tell replicas apart in pings and logs.
    public static func makeInstanceId() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() & 0xFFFF_FFFF_FFFF, radix: 16)
    }
}

import Access
import Foundation
import Wire

/// What a handler knows about the call it serves.
public struct RequestContext: Sendable {
    public var header: FrameHeader
    public var logger: Logger
    public var receivedAt: ContinuousClock.Instant
    /// Who the frame's credential belongs to, once the router's admission check passed; nil for a
    /// call that needs none (or when the service checks none).
    public var principal: Principal?
    /// The frame's credential block (for `auth_logout`, which ends the session it names). Never logged.
    public var credential: [UInt8]?

    /// Milliseconds the caller is still waiting, nil when it sent no deadline, 0 when it has passed.
    /// Handlers pass the smaller of this and their own budget to downstream calls.
    public var remainingMilliseconds: Int? {
        Self.remainingMilliseconds(deadline: header.deadlineMilliseconds, now: unixMilliseconds())
    }

    /// The most a deadline can leave: nng's timeouts are Int32 milliseconds (about 24.8 days), so a
    /// deadline further ahead, up to 2^64 − 1, is treated as this far ahead.
    public static let maximumRemainingMilliseconds = Int(Int32.max)

    /// The deadline is an unsigned count of Unix milliseconds from the caller: any of its 2^64 values
    /// gives an answer in 0…`maximumRemainingMilliseconds` (0: passed, deadline ≤ now), or nil for 0
    /// (no deadline). Computed in UInt64 after checking the order, so no value can overflow.
    public static func remainingMilliseconds(deadline: UInt64, now: Int64) -> Int? {
        guard deadline > 0 else { return nil }
        let nowMilliseconds = UInt64(clamping: now)
        guard deadline > nowMilliseconds else { return 0 }
        return Int(min(deadline - nowMilliseconds, UInt64(maximumRemainingMilliseconds)))
    }
}

/// The wall clock in Unix milliseconds, clamped to Int64 (a clock that reads NaN counts as 0).
public func unixMilliseconds() -> Int64 {
    let milliseconds = (Date().timeIntervalSince1970 * 1000).rounded(.down)
    guard milliseconds.isFinite else { return 0 }
    if milliseconds >= 0x1p63 { return Int64.max }
    if milliseconds < -0x1p63 { return Int64.min }
    return Int64(milliseconds)
}

/// Maps each message kind to its typed handler. Built once before serving, then immutable.
/// Turns any incoming byte string into exactly one reply frame: the handler's answer, or an error
/// reply whose code says what was wrong. The checks run in this order (PROTOCOL.md, "Refused frames"):
/// 1. larger than `maxFrameBytes` → FRAME_TOO_LARGE;
/// 2. shorter than the header, bad magic → BAD_FRAME; version ≠ 1 → UNSUPPORTED_VERSION; flags not
///    0, 1 or 3, reserved bytes ≠ 0, bodyLength ≠ the bytes after the header → BAD_FRAME;
/// 3. a reply (flags 1 or 3) sent as a request → BAD_FRAME;
/// 4. a kind this service does not serve → UNKNOWN_MESSAGE_KIND;
/// 5. a deadline at or before the server's clock → DEADLINE_EXCEEDED;
/// 6. the credential block against the kind's requirement (`admission`, AccessTable) →
///    UNAUTHENTICATED, ROLE_REQUIRED or SERVICE_TOKEN_REQUIRED;
/// 7. a body that does not decode as the kind's request → MALFORMED_BODY;
/// 8. the handler's `ServiceError`, a translated library error, or INTERNAL for anything else.
/// Every error reply echoes the caller's kind and requestId when the 28 header bytes are there and
/// start with the magic (`FrameCodec.echoedHeader`), else kind 0 and requestId 0. A reply larger
/// than `maxFrameBytes` is never sent: the caller gets INTERNAL instead.
public struct RPCRouter: Sendable {
    public typealias RawHandler = @Sendable (FrameHeader, [UInt8], RequestContext) async throws -> [UInt8]

    private var routes: [MessageKind: RawHandler] = [:]
    public let service: String
    public let metrics: Metrics
    public let logger: Logger
    public let maxFrameBytes: Int
    /// How a handler's failure is answered and logged (shared with the HTTP front).
    public var errorPolicy = ErrorPolicy()
    /// Checks each request's kind and credential before its body is decoded, and says who is
    /// calling (`Gatekeeper.admit(kind:credential:)`); nil admits every call.
    public var admission: (@Sendable (MessageKind, [UInt8]?) async throws -> Principal?)?

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
            record("invalid_frame", error.errorCode, started)
            logger.warning("refused frame", [("error", error.description), ("frame.bytes", String(bytes.count))])
            return Envelope.errorReply(to: FrameCodec.echoedHeader(bytes), ServiceError(error.errorCode, error.description))
        }
        let call = header.kind.name
        guard !frame.isReply else {
            // Labelled like a refused frame: a hostile kind number must not mint a metrics series.
            record("invalid_frame", .badFrame, started)
            return Envelope.errorReply(to: header, ServiceError(.badFrame, "a reply frame was sent as a request"))
        }
        guard let route = routes[header.kind] else {
            record("unknown_kind", .unknownMessageKind, started)
            return Envelope.errorReply(
                to: header, ServiceError(.unknownMessageKind, "\(service) does not serve message kind \(header.kind.rawValue)"))
        }
        var context = RequestContext(
            header: header, logger: logger.with([("request.id", String(header.requestId)), ("call", call)]),
            receivedAt: started)
        if context.remainingMilliseconds == 0 {
            record(call, .deadlineExceeded, started)
            return Envelope.errorReply(to: header, ServiceError(.deadlineExceeded, "deadline passed before \(call) started"))
        }
        do {
            context.credential = frame.credential
            if let admission { context.principal = try await admission(header.kind, frame.credential) }
            let body = try await route(header, frame.body, context)
            let reply = Envelope.reply(to: header, body: body)
            guard reply.count <= maxFrameBytes else {
                // The caller's receive limit would drop it and close the connection: say why instead.
                record(call, .internalError, started)
                context.logger.error("reply too large", [("frame.bytes", String(reply.count))])
                return Envelope.errorReply(
                    to: header,
                    ServiceError(.internalError, "the \(call) reply of \(reply.count) bytes exceeds the \(maxFrameBytes)-byte frame limit"))
            }
            record(call, .ok, started)
            return reply
        } catch {
            let answer = errorPolicy.answer(for: error, logger: context.logger)
            record(call, answer.code, started)
            return Envelope.errorReply(to: header, answer)
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

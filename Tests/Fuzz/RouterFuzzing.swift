// What the targets that fuzz a service's `RPCRouter` share (rule-engine, risk-control,
// coupon-center): how an input becomes a frame, how the router is called (through FuzzSupport's
// `waitFor`), and the promises every reply keeps whatever the service. Deploy/fuzz compiles this file into
// each of those targets, next to FuzzSupport.swift and the target's own file.
import ServiceKit
import Wire

/// The frame an input stands for. First byte even: the rest is a whole frame, so the header
/// parser is fuzzed too; odd: the rest is a body, sent as a valid frame of kind
/// `servedKinds[byte / 2]`, so mutations reach the handlers. Nil for the empty input.
func frame(from bytes: [UInt8], servedKinds: [MessageKind]) -> [UInt8]? {
    guard let mode = bytes.first else { return nil }
    let rest = Array(bytes.dropFirst())
    guard mode % 2 == 1 else { return rest }
    let kind = servedKinds[Int(mode / 2) % servedKinds.count]
    return FrameCodec.encode(Frame(header: FrameHeader(kind: kind, requestId: 42), body: rest))
}

/// A seed that `frame(from:servedKinds:)` turns into a frame of `request`'s kind with this body.
func seedBody<R: WireRequest>(_ request: R, servedKinds: [MessageKind]) throws -> [UInt8] {
    guard let index = servedKinds.firstIndex(of: R.kind) else { throw ServiceError(.internalError, "\(R.kind) is not served") }
    return [UInt8(index * 2 + 1)] + (try WireBody.encode(request))
}

func serve(_ frame: [UInt8], by router: RPCRouter) -> [UInt8] {
    waitFor { await router.handle(frame) }
}

/// What every reply promises: it is one reply frame, for the request's id and kind when its header
/// was readable, and an error reply carries a `ServiceError` that is never INTERNAL_ERROR (a
/// handler that traps kills the fuzzer). Returns the reply and, for an error reply, its error.
func readReply(_ bytes: [UInt8], to request: [UInt8], service: String, input: [UInt8]) -> (reply: Frame, error: ServiceError?) {
    let reply: Frame
    do {
        reply = try FrameCodec.decode(bytes, maxFrameBytes: Int.max)
    } catch {
        propertyFailed("the router's reply is not a frame: \(error)", input: input)
    }
    guard reply.isReply else { propertyFailed("the router's reply lacks the reply flag", input: input) }
    let header = try? FrameCodec.decodeHeader(request)
    if let header, reply.header.requestId != header.requestId || reply.header.kind != header.kind {
        propertyFailed("reply for \(reply.header.kind) #\(reply.header.requestId) to \(header.kind) #\(header.requestId)", input: input)
    }
    guard reply.isError else { return (reply, nil) }
    let error: ServiceError
    do {
        error = try WireBody.decode(ServiceError.self, from: reply.body)
    } catch {
        propertyFailed("an error reply's body is not a ServiceError: \(error)", input: input)
    }
    guard error.code != .internalError else { propertyFailed("\(service) answered \(error)", input: input) }
    return (reply, error)
}

/// A success's request and answer, which must both decode.
func decode<R: WireRequest>(_: R.Type, _ frame: Frame, _ reply: Frame, _ input: [UInt8]) -> (R, R.Response) {
    do {
        return (try WireBody.decode(R.self, from: frame.body), try WireBody.decode(R.Response.self, from: reply.body))
    } catch {
        propertyFailed("\(R.kind): a success whose request or answer does not decode: \(error)", input: input)
    }
}

/// A success of a kind every service serves (ping, service_stats), for the targets' own checks to
/// fall back on: any other kind is not served, so its success is a broken router.
func checkStandardSuccess(_ frame: Frame, _ reply: Frame, _ input: [UInt8]) {
    switch frame.header.kind {
    case .ping: _ = decode(PingRequest.self, frame, reply, input)
    case .serviceStats: _ = decode(ServiceStatsRequest.self, frame, reply, input)
    default: propertyFailed("a success reply to unserved kind \(frame.header.kind)", input: input)
    }
}

// What the targets that drive a real `RPCRouter` (rule-engine, coupon-center) check of every reply.
// Deploy/fuzz compiles this file into those targets next to FuzzSupport.swift; it is apart from
// FuzzSupport.swift because that one is in every target and cannot import Wire (the frame target
// compiles Wire's sources into its own module).
import ServiceKit
import Wire

/// A reply that kept the router's promises: a success (with the request it answers, which was a
/// whole frame) or an error that says what was wrong.
enum RouterAnswer {
    case success(request: Frame, reply: Frame)
    case failure(ServiceError)
}

/// The router's reply to `frame`, waited for on libFuzzer's thread.
func serve(_ frame: [UInt8], on router: RPCRouter) -> [UInt8] {
    waitFor { await router.handle(frame) }
}

/// What every router promises: exactly one reply frame, for the request's id and kind when its
/// header was readable; an error body that is a `ServiceError`, never INTERNAL; a success only to a
/// whole frame. `service` names the router in the message of a broken promise.
func checkedReply(_ bytes: [UInt8], to request: [UInt8], service: String, input: [UInt8]) -> RouterAnswer {
    let reply: Frame
    do {
        reply = try FrameCodec.decode(bytes, maxFrameBytes: Int.max)
    } catch {
        propertyFailed("\(service)'s reply is not a frame: \(error)", input: input)
    }
    guard reply.isReply else { propertyFailed("\(service)'s reply lacks the reply flag", input: input) }
    let header = try? FrameCodec.decodeHeader(request)
    if let header, reply.header.requestId != header.requestId || reply.header.kind != header.kind {
        propertyFailed("\(service) replied for \(reply.header.kind) #\(reply.header.requestId) to \(header.kind) #\(header.requestId)", input: input)
    }
    if reply.isError {
        let error: ServiceError
        do {
            error = try WireBody.decode(ServiceError.self, from: reply.body)
        } catch {
            propertyFailed("an error reply's body is not a ServiceError: \(error)", input: input)
        }
        guard error.code != .internalError else { propertyFailed("\(service) answered \(error)", input: input) }
        return .failure(error)
    }
    guard let frame = try? FrameCodec.decode(request) else { propertyFailed("a reply that is not an error to a bad frame", input: input) }
    return .success(request: frame, reply: reply)
}

/// A success's request and answer, each decoded as its kind's type.
func decodeCall<R: WireRequest>(_: R.Type, _ frame: Frame, _ reply: Frame, _ input: [UInt8]) -> (R, R.Response) {
    do {
        return (try WireBody.decode(R.self, from: frame.body), try WireBody.decode(R.Response.self, from: reply.body))
    } catch {
        propertyFailed("\(R.kind): a success whose request or answer does not decode: \(error)", input: input)
    }
}

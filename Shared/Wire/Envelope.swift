/// Building and reading whole frames for request/reply calls, so callers and servers never touch
/// header fields by hand.
public enum Envelope {
    /// `credential` (an API token, a session id or the service token) goes in the frame's
    /// credential block (PROTOCOL.md "Credential block"); nil sends a frame without one.
    public static func request<R: WireRequest>(
        _ request: R, requestId: UInt64, deadlineMilliseconds: UInt64 = 0, credential: String? = nil
    ) throws -> [UInt8] {
        let header = FrameHeader(kind: R.kind, requestId: requestId, deadlineMilliseconds: deadlineMilliseconds)
        return FrameCodec.encode(Frame(header: header, body: try WireBody.encode(request), credential: credential.map { Array($0.utf8) }))
    }

    public static func reply(to request: FrameHeader, body: [UInt8]) -> [UInt8] {
        let header = FrameHeader(flags: .reply, kind: request.kind, requestId: request.requestId)
        return FrameCodec.encode(Frame(header: header, body: body))
    }

    /// An error reply; `request` is nil when the incoming bytes had no readable header.
    public static func errorReply(to request: FrameHeader?, _ error: ServiceError) -> [UInt8] {
        let header = FrameHeader(
            flags: [.reply, .error], kind: request?.kind ?? MessageKind(rawValue: 0),
            requestId: request?.requestId ?? 0)
        // ServiceError holds a UInt16 and a String: encoding cannot fail.
        let body = (try? WireBody.encode(error)) ?? []
        return FrameCodec.encode(Frame(header: header, body: body))
    }

    /// The reply to a call: its typed body, or the `ServiceError` the server answered with. A reply
    /// that is not a well-formed answer to this request is reported as `malformedBody`.
    public static func decodeReply<R: WireRequest>(
        _ bytes: [UInt8], for _: R.Type, requestId: UInt64, maxFrameBytes: Int = FrameHeader.defaultMaxFrameBytes
    ) throws(ServiceError) -> R.Response {
        let frame: Frame
        do {
            frame = try FrameCodec.decode(bytes, maxFrameBytes: maxFrameBytes)
        } catch {
            throw ServiceError(.malformedBody, "reply is not a frame: \(error)")
        }
        guard frame.isReply else { throw ServiceError(.malformedBody, "reply frame lacks the reply flag") }
        if frame.isError {
            do {
                throw try WireBody.decode(ServiceError.self, from: frame.body)
            } catch let error as ServiceError {
                throw error
            } catch {
                throw ServiceError(.malformedBody, "error reply body: \(error)")
            }
        }
        guard frame.header.requestId == requestId, frame.header.kind == R.kind else {
            throw ServiceError(
                .malformedBody,
                "reply for \(frame.header.kind) #\(frame.header.requestId), expected \(R.kind) #\(requestId)")
        }
        do {
            return try WireBody.decode(R.Response.self, from: frame.body)
        } catch {
            throw ServiceError(.malformedBody, "\(R.kind) reply body: \(error)")
        }
    }
}

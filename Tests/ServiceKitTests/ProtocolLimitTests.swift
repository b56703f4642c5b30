import Messaging
import TestSupport
import Testing
import Wire

@testable import ServiceKit

/// The header fields and sizes a stranger controls, against a real `RPCRouter` behind a real
/// `RPCListener` on loopback: hostile deadlines, invalid flags and frames on both sides of the size
/// limit each get their documented answer (PROTOCOL.md, "Refused frames" and "Size limit"), and the
/// process keeps serving.
@Suite struct ProtocolLimitTests {
    struct EchoBytesRequest: WireRequest, Equatable {
        typealias Response = EchoBytesRequest
        static let kind = MessageKind(rawValue: 0x7F10)
        var payload: [UInt8]
    }

    struct InflateRequest: WireRequest, Equatable {
        typealias Response = EchoBytesRequest
        static let kind = MessageKind(rawValue: 0x7F11)
        var size: Int32
    }

    static let frameLimit = 4096

    static func makeRouter() -> RPCRouter {
        var router = RPCRouter(
            service: "limits", metrics: Metrics(), logger: Logger(service: "limits", sink: LogSink(capturing: true)),
            maxFrameBytes: frameLimit)
        router.register(EchoBytesRequest.self) { request, _ in request }
        router.register(InflateRequest.self) { request, _ in
            EchoBytesRequest(payload: [UInt8](repeating: 0x5A, count: Int(max(request.size, 0))))
        }
        router.registerStandardHandlers(instance: "i", startedAt: .now) { [] }
        return router
    }

    /// A listener on a free loopback port and a client dialled to it, for the duration of `body`.
    func withListener(_ body: (RequestClient) async throws -> Void) async throws {
        let listener = try RPCListener(urls: ["tcp://127.0.0.1:0"], router: Self.makeRouter(), concurrency: 4)
        // A limit that scales with the machine (TEST_TIME_SCALE): a loaded machine is slow, not wrong.
        let client = try RequestClient(urls: listener.boundURLs, timeoutMilliseconds: Patience.callMilliseconds)
        defer { client.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            do {
                try await body(client)
            } catch {
                await listener.shutdown()
                throw error
            }
            await listener.shutdown()
            try await group.waitForAll()
        }
    }

    static func header(flags: UInt8 = 0, kind: UInt16, requestId: UInt64, deadline: UInt64, bodyLength: UInt32 = 0) -> [UInt8] {
        var writer = WireWriter()
        writer.writeRaw([0x43, 0x43, 1, flags])
        writer.writeBigEndian(kind)
        writer.writeBigEndian(UInt16(0))
        writer.writeBigEndian(requestId)
        writer.writeBigEndian(deadline)
        writer.writeBigEndian(bodyLength)
        return writer.bytes
    }

    /// An echo request frame of exactly `totalBytes` (header, varint length, payload).
    static func echoFrame(totalBytes: Int, requestId: UInt64) throws -> [UInt8] {
        var payloadLength = totalBytes - FrameHeader.size - 1
        while payloadLength > 0 {
            let frame = try Envelope.request(EchoBytesRequest(payload: [UInt8](repeating: 7, count: payloadLength)), requestId: requestId)
            if frame.count == totalBytes { return frame }
            payloadLength -= 1
        }
        throw ServiceError(.invalidArgument, "no echo frame of \(totalBytes) bytes")
    }

    static func errorReply(_ bytes: [UInt8]) throws -> (header: FrameHeader, error: ServiceError) {
        let frame = try FrameCodec.decode(bytes, maxFrameBytes: Int.max)
        #expect(frame.isReply && frame.isError)
        return (frame.header, try WireBody.decode(ServiceError.self, from: frame.body))
    }

    @Test func remainingTimeNeverOverflowsForAnyDeadline() {
        let now: Int64 = 1_764_000_000_000
        let remaining = { (deadline: UInt64) in RequestContext.remainingMilliseconds(deadline: deadline, now: now) }
        let cap = RequestContext.maximumRemainingMilliseconds
        #expect(remaining(0) == nil)
        #expect(remaining(1) == 0)
        #expect(remaining(UInt64(now)) == 0)
        #expect(remaining(UInt64(now) + 1) == 1)
        #expect(remaining(UInt64(now) + 1500) == 1500)
        #expect(remaining(UInt64(now) + UInt64(cap) + 1) == cap)
        #expect(remaining(0x7FFF_FFFF_FFFF_FFFF) == cap)
        #expect(remaining(0x8000_0000_0000_0000) == cap)
        #expect(remaining(UInt64.max) == cap)
        #expect(RequestContext.remainingMilliseconds(deadline: UInt64.max, now: Int64.min) == cap)
        #expect(RequestContext.remainingMilliseconds(deadline: 1, now: Int64.max) == 0)
        #expect(RequestContext.remainingMilliseconds(deadline: 5, now: -3) == 5)
    }

    /// The stranger's frame: 28 bytes, a ping, deadline 2^63. It used to overflow the deadline
    /// subtraction and kill the service; now it is a deadline 24.8 days away and gets its pong.
    @Test func aDeadlineOfTwoToTheSixtyThreeIsServedOverTheWire() async throws {
        try await withListener { client in
            for deadline: UInt64 in [0x8000_0000_0000_0000, UInt64.max, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0001] {
                let frame = Self.header(kind: MessageKind.ping.rawValue, requestId: 0x1122, deadline: deadline)
                #expect(frame.count == 28)
                let reply = try await client.call(frame)
                #expect(try Envelope.decodeReply(reply, for: PingRequest.self, requestId: 0x1122).service == "limits")
            }
            let late = Self.header(kind: MessageKind.ping.rawValue, requestId: 5, deadline: 1)
            let (header, error) = try Self.errorReply(try await client.call(late))
            #expect(error.code == .deadlineExceeded)
            #expect(header.kind == .ping && header.requestId == 5 && header.deadlineMilliseconds == 0)
            // Still serving after all of it.
            let pong = try await client.call(try Envelope.request(PingRequest(), requestId: 6))
            #expect(try Envelope.decodeReply(pong, for: PingRequest.self, requestId: 6).service == "limits")
        }
    }

    @Test func everyInvalidFlagCombinationIsABadFrameWithTheCallersIds() async throws {
        try await withListener { client in
            for flags in UInt8(0)...UInt8(255) where ![0, 1, 3].contains(flags) {
                let frame = Self.header(flags: flags, kind: MessageKind.ping.rawValue, requestId: 900 + UInt64(flags), deadline: 0)
                let (header, error) = try Self.errorReply(try await client.call(frame))
                #expect(error.code == .badFrame, "flags \(flags)")
                #expect(header.kind == .ping && header.requestId == 900 + UInt64(flags), "flags \(flags)")
            }
            // REPLY and REPLY|ERROR are valid flags but not requests: BAD_FRAME too.
            for flags: UInt8 in [1, 3] {
                let frame = Self.header(flags: flags, kind: MessageKind.ping.rawValue, requestId: 7, deadline: 0)
                let (header, error) = try Self.errorReply(try await client.call(frame))
                #expect(error.code == .badFrame && header.requestId == 7)
            }
        }
    }

    @Test func aFrameOfExactlyTheLimitIsServedAndOneByteMoreIsRefusedWithAnAnswer() async throws {
        try await withListener { client in
            let limit = Self.frameLimit
            let exact = try Self.echoFrame(totalBytes: limit, requestId: 41)
            #expect(exact.count == limit)
            let echoed = try Envelope.decodeReply(try await client.call(exact), for: EchoBytesRequest.self, requestId: 41)
            #expect(echoed.payload.count == limit - FrameHeader.size - 2)

            let largestAnswered = limit + ReceiveLimit.answerableOverrunBytes - ReceiveLimit.directHeaderBytes
            for size in [limit + 1, limit + 2, largestAnswered] {
                let frame = try Self.echoFrame(totalBytes: size, requestId: 42)
                let (header, error) = try Self.errorReply(try await client.call(frame))
                #expect(error.code == .frameTooLarge, "\(size) bytes")
                #expect(header.kind == EchoBytesRequest.kind && header.requestId == 42, "\(size) bytes")
            }
        }
    }

    @Test func beyondTheAnswerableOverrunNngDropsTheConnectionAndServingGoesOn() async throws {
        try await withListener { client in
            let largestAnswered = Self.frameLimit + ReceiveLimit.answerableOverrunBytes - ReceiveLimit.directHeaderBytes
            let dropped = try Self.echoFrame(totalBytes: largestAnswered + 1, requestId: 43)
            // No reply: nng closes the connection that sent it, and a caller without automatic
            // resend (ours) has its call fail with "connection reset" rather than wait for its timeout.
            let error = await #expect(throws: MessagingError.self) { try await client.call(dropped, timeoutMilliseconds: Patience.callMilliseconds) }
            #expect(error?.code != .timedOut, "\(String(describing: error))")
            // The client reconnects by itself; wait for that with a generous number of tries.
            var answered = false
            for attempt in 0..<100 where !answered {
                let reply = try? await client.call(try Envelope.request(PingRequest(), requestId: 100 + UInt64(attempt)), timeoutMilliseconds: 2_000)
                answered = reply.flatMap { try? Envelope.decodeReply($0, for: PingRequest.self, requestId: 100 + UInt64(attempt)) } != nil
                if !answered { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(answered)
        }
    }

    @Test func aReplyLargerThanTheLimitBecomesAnInternalError() async throws {
        let router = Self.makeRouter()
        let fits = await router.handle(try Envelope.request(InflateRequest(size: 100), requestId: 1))
        #expect(try Envelope.decodeReply(fits, for: InflateRequest.self, requestId: 1).payload.count == 100)
        let reply = await router.handle(try Envelope.request(InflateRequest(size: Int32(Self.frameLimit)), requestId: 2))
        #expect(reply.count <= Self.frameLimit)
        let (header, error) = try Self.errorReply(reply)
        #expect(error.code == .internalError && header.requestId == 2 && header.kind == InflateRequest.kind)
    }

    /// Random header fields (any flags, kind, reserved bytes, requestId, deadline and length) never
    /// trap the router, and every answer is one well-formed reply frame with deadline 0 that echoes
    /// the caller's kind and requestId.
    @Test func randomHeadersAlwaysGetOneWellFormedReply() async throws {
        let router = Self.makeRouter()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            // SplitMix64: deterministic, so a failure repeats.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let kinds: [UInt16] = [MessageKind.ping.rawValue, MessageKind.serviceStats.rawValue, EchoBytesRequest.kind.rawValue, 0, 0xFFFF]
        for round in 0..<3_000 {
            let flags = round % 3 == 0 ? UInt8(truncatingIfNeeded: next()) : 0
            let kind = kinds[Int(next() % UInt64(kinds.count))]
            let requestId = next()
            let deadline: UInt64 = [0, 1, next(), UInt64.max, 0x8000_0000_0000_0000][Int(next() % 5)]
            let body = [UInt8](repeating: UInt8(truncatingIfNeeded: next()), count: Int(next() % 8))
            let bodyLength = round % 5 == 0 ? UInt32(truncatingIfNeeded: next()) : UInt32(body.count)
            var frame = Self.header(flags: flags, kind: kind, requestId: requestId, deadline: deadline, bodyLength: bodyLength) + body
            if round % 7 == 0 { frame[6] = UInt8(truncatingIfNeeded: next()) }
            let reply = try FrameCodec.decode(await router.handle(frame))
            #expect(reply.isReply && reply.header.deadlineMilliseconds == 0)
            #expect(reply.header.kind.rawValue == kind && reply.header.requestId == requestId, "round \(round)")
        }
    }

    /// Each header violation gets its documented code, and the caller's kind and requestId whenever
    /// the 28 header bytes are there with the magic (the table in PROTOCOL.md, "Refused frames").
    @Test func eachHeaderViolationGetsItsCodeAndEchoes() async throws {
        let router = Self.makeRouter()
        let ping = MessageKind.ping.rawValue
        struct Answer: Equatable {
            var kind: UInt16, requestId: UInt64, code: ErrorCode
            init(_ kind: UInt16, _ requestId: UInt64, _ code: ErrorCode) { (self.kind, self.requestId, self.code) = (kind, requestId, code) }
        }
        func answer(_ bytes: [UInt8]) async throws -> Answer {
            let (header, error) = try Self.errorReply(await router.handle(bytes))
            return Answer(header.kind.rawValue, header.requestId, error.code)
        }
        let valid = Self.header(kind: ping, requestId: 77, deadline: 0)
        var badMagic = valid
        badMagic[1] = 0x44
        var badVersion = valid
        badVersion[2] = 2
        var reserved = valid
        reserved[6] = 1
        let lengthMismatch = Self.header(kind: ping, requestId: 77, deadline: 0, bodyLength: 3)
        let unknownKind = Self.header(kind: 0x7777, requestId: 77, deadline: 0)
        let malformed = Self.header(kind: EchoBytesRequest.kind.rawValue, requestId: 77, deadline: 0, bodyLength: 1) + [0x05]
        let tooLarge = Self.header(kind: ping, requestId: 77, deadline: 0, bodyLength: 5000) + [UInt8](repeating: 0, count: 5000)
        #expect(try await answer(Array(valid.prefix(27))) == Answer(0, 0, .badFrame))
        #expect(try await answer(badMagic) == Answer(0, 0, .badFrame))
        #expect(try await answer(badVersion) == Answer(ping, 77, .unsupportedVersion))
        #expect(try await answer(reserved) == Answer(ping, 77, .badFrame))
        #expect(try await answer(lengthMismatch) == Answer(ping, 77, .badFrame))
        #expect(try await answer(unknownKind) == Answer(0x7777, 77, .unknownMessageKind))
        #expect(try await answer(malformed) == Answer(EchoBytesRequest.kind.rawValue, 77, .malformedBody))
        #expect(try await answer(tooLarge) == Answer(ping, 77, .frameTooLarge))
        #expect(try await answer(Self.header(kind: ping, requestId: 77, deadline: 2)) == Answer(ping, 77, .deadlineExceeded))
    }
}

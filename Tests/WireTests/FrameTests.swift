import Testing

@testable import Wire

@Suite struct FrameTests {
    let header = FrameHeader(kind: .ping, requestId: 0x0102_0304_0506_0708, deadlineMilliseconds: 1_764_000_000_000)

    @Test func headerLayoutIsAsDocumented() {
        let bytes = FrameCodec.encode(Frame(header: header, body: [0xAA, 0xBB]))
        #expect(bytes.count == FrameHeader.size + 2)
        #expect(Array(bytes[0..<2]) == [0x43, 0x43])
        #expect(bytes[2] == 1)
        #expect(bytes[3] == 0)
        #expect(Array(bytes[4..<6]) == [0x00, 0x01])
        #expect(Array(bytes[6..<8]) == [0, 0])
        #expect(Array(bytes[8..<16]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Array(bytes[24..<28]) == [0, 0, 0, 2])
        #expect(Array(bytes[28...]) == [0xAA, 0xBB])
    }

    @Test func roundTrip() throws {
        let frame = Frame(header: header, body: Array(0..<200))
        #expect(try FrameCodec.decode(FrameCodec.encode(frame)) == frame)
    }

    @Test func truncatedFramesAreRefused() {
        let bytes = FrameCodec.encode(Frame(header: header, body: [1, 2, 3]))
        for length in 0..<bytes.count {
            let error = #expect(throws: FrameError.self) { try FrameCodec.decode(Array(bytes[..<length])) }
            #expect(error?.reason == (length < FrameHeader.size ? .truncated : .lengthMismatch))
        }
    }

    @Test func extraBytesAreRefused() {
        let bytes = FrameCodec.encode(Frame(header: header, body: [1])) + [9]
        let error = #expect(throws: FrameError.self) { try FrameCodec.decode(bytes) }
        #expect(error?.reason == .lengthMismatch)
    }

    @Test func wrongVersionAndMagicAndReservedBits() {
        var bytes = FrameCodec.encode(Frame(header: header, body: []))
        bytes[2] = 2
        #expect((#expect(throws: FrameError.self) { try FrameCodec.decode(bytes) })?.reason == .unsupportedVersion)
        #expect((try? FrameCodec.decodeHeader(bytes)) == nil)
        bytes[2] = 1
        bytes[0] = 0x47
        #expect((#expect(throws: FrameError.self) { try FrameCodec.decode(bytes) })?.reason == .badMagic)
        bytes[0] = 0x43
        bytes[3] = 0x80
        #expect((#expect(throws: FrameError.self) { try FrameCodec.decode(bytes) })?.reason == .invalidFlags)
        bytes[3] = 0
        bytes[7] = 1
        #expect((#expect(throws: FrameError.self) { try FrameCodec.decode(bytes) })?.reason == .reservedBits)
    }

    /// Only 0 (request), 1 (reply), 3 (error reply) and 4 (request with a credential) are flags;
    /// ERROR without REPLY, and CREDENTIAL on a reply, are not.
    @Test func everyInvalidFlagCombinationIsRefused() throws {
        var bytes = FrameCodec.encode(Frame(header: header, body: []))
        for flags in UInt8(0)...UInt8(255) {
            bytes[3] = flags
            if flags == 4 {
                // A valid flag, but an empty body has no credential block (CredentialBlockTests).
                #expect((#expect(throws: FrameError.self) { try FrameCodec.decode(bytes) })?.reason == .badCredential)
            } else if [0, 1, 3].contains(flags) {
                #expect(try FrameCodec.decode(bytes).header.flags.rawValue == flags)
            } else {
                let error = #expect(throws: FrameError.self) { try FrameCodec.decode(bytes) }
                #expect(error?.reason == .invalidFlags && error?.errorCode == .badFrame, "flags \(flags)")
            }
        }
    }

    @Test func refusedFramesEchoTheCallersIdsWhenTheMagicIsThere() {
        var bytes = FrameCodec.encode(Frame(header: header, body: [1, 2]))
        bytes[2] = 7
        bytes[3] = 0x02
        bytes[6] = 9
        #expect(FrameCodec.echoedHeader(bytes) == FrameHeader(kind: .ping, requestId: 0x0102_0304_0506_0708))
        #expect(FrameCodec.echoedHeader(Array(bytes.prefix(27))) == nil)
        bytes[0] = 0
        #expect(FrameCodec.echoedHeader(bytes) == nil)
    }

    @Test func frameOfExactlyTheLimitDecodes() throws {
        let bytes = FrameCodec.encode(Frame(header: header, body: [UInt8](repeating: 7, count: 4096 - FrameHeader.size)))
        #expect(try FrameCodec.decode(bytes, maxFrameBytes: 4096).body.count == 4096 - FrameHeader.size)
        let error = #expect(throws: FrameError.self) { try FrameCodec.decode(bytes + [], maxFrameBytes: 4095) }
        #expect(error?.reason == .tooLarge)
    }

    @Test func oversizedFramesAreRefusedByTheLimit() {
        let bytes = FrameCodec.encode(Frame(header: header, body: [UInt8](repeating: 7, count: 5000)))
        let error = #expect(throws: FrameError.self) { try FrameCodec.decode(bytes, maxFrameBytes: 4096) }
        #expect(error?.reason == .tooLarge)
        #expect(error?.errorCode == .frameTooLarge)
    }

    @Test func lyingBodyLengthCannotCauseAllocation() {
        var bytes = FrameCodec.encode(Frame(header: header, body: []))
        bytes[24] = 0xFF; bytes[25] = 0xFF; bytes[26] = 0xFF; bytes[27] = 0xFF
        #expect((#expect(throws: FrameError.self) { try FrameCodec.decode(bytes) })?.reason == .lengthMismatch)
    }

    @Test func randomFramesNeverTrap() {
        var generator = SplitMix(seed: 42)
        var valid = FrameCodec.encode(Frame(header: header, body: try! WireBody.encode(PingRequest())))
        for _ in 0..<50_000 {
            // Mutate a valid frame so the decoder gets past the magic often.
            var bytes = valid
            let edits = Int(generator.next() % 4) + 1
            for _ in 0..<edits {
                switch generator.next() % 3 {
                case 0 where !bytes.isEmpty: bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.append(UInt8(truncatingIfNeeded: generator.next()))
                default: if !bytes.isEmpty { bytes.removeLast() }
                }
            }
            if let frame = try? FrameCodec.decode(bytes) {
                _ = try? WireBody.decode(PingResponse.self, from: frame.body)
                _ = try? WireBody.decode(ServiceError.self, from: frame.body)
            }
        }
        valid.removeAll()
    }
}

@Suite struct EnvelopeTests {
    @Test func requestAndReplyRoundTrip() throws {
        let request = try Envelope.request(PingRequest(), requestId: 77, deadlineMilliseconds: 5)
        let decoded = try FrameCodec.decode(request)
        #expect(decoded.header.kind == .ping)
        #expect(decoded.header.requestId == 77)
        #expect(decoded.header.deadlineMilliseconds == 5)
        #expect(!decoded.isReply)
        let pong = PingResponse(
            service: "rule-engine", instance: "abc", version: "1", uptimeMilliseconds: 12,
            dependencies: [DependencyStatus(name: "redis", healthy: false, detail: "down")])
        let reply = Envelope.reply(to: decoded.header, body: try WireBody.encode(pong))
        #expect(try Envelope.decodeReply(reply, for: PingRequest.self, requestId: 77) == pong)
    }

    @Test func errorRepliesBecomeTheServersError() throws {
        let header = FrameHeader(kind: .ping, requestId: 9)
        let reply = Envelope.errorReply(to: header, ServiceError(.soldOut, "no stock left"))
        let error = #expect(throws: ServiceError.self) { try Envelope.decodeReply(reply, for: PingRequest.self, requestId: 9) }
        #expect(error == ServiceError(.soldOut, "no stock left"))
    }

    @Test func replyForAnotherRequestIsRefused() throws {
        let header = FrameHeader(kind: .ping, requestId: 1)
        let reply = Envelope.reply(
            to: header, body: try WireBody.encode(PingResponse(service: "", instance: "", version: "", uptimeMilliseconds: 0, dependencies: [])))
        let error = #expect(throws: ServiceError.self) { try Envelope.decodeReply(reply, for: PingRequest.self, requestId: 2) }
        #expect(error?.code == .malformedBody)
    }
}

@Suite struct ErrorCodeTests {
    @Test func everyCodeHasANameAndAnHTTPStatus() {
        let names = ErrorCode.all.values.map(\.name)
        #expect(Set(names).count == names.count, "names are unique")
        #expect(ErrorCode.soldOut.httpStatus == 409)
        #expect(ErrorCode.riskDenied.httpStatus == 403)
        #expect(ErrorCode.invalidMoney.httpStatus == 400)
        #expect(ErrorCode.templateNotFound.httpStatus == 404)
        #expect(ErrorCode.rateLimited.httpStatus == 429)
        #expect(ErrorCode.dependencyUnavailable.httpStatus == 503)
        #expect(ErrorCode(rawValue: 4242).httpStatus == 500)
        for (code, entry) in ErrorCode.all where code != .ok {
            #expect((400...599).contains(entry.httpStatus), "\(code)")
        }
    }
}

import Foundation
import Synchronization
import TestSupport
import Testing
import Wire

@testable import Messaging

#if canImport(Glibc)
    import Glibc
#endif

// MARK: The request parser, byte by byte, without sockets

@Suite struct HTTPRequestParserTests {
    static let limits = HTTPRequestParser.Limits(maxHeadBytes: 1024, maxBodyBytes: 64, maxHeaderCount: 8)

    /// Feeds `text` in pieces of `piece` bytes and collects every event up to the first refusal.
    static func events(_ bytes: [UInt8], piece: Int = .max, limits: HTTPRequestParser.Limits = limits) -> [HTTPRequestParser.Event] {
        var parser = HTTPRequestParser(limits: limits)
        var events: [HTTPRequestParser.Event] = []
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + min(piece, bytes.count))
            bytes[offset..<end].withUnsafeBytes { parser.append($0) }
            offset = end
            while true {
                let event = parser.next()
                if event == .needMore { break }
                events.append(event)
                if case .refused = event { return events }
            }
        } while offset < bytes.count
        return events
    }

    static func events(_ text: String, piece: Int = .max) -> [HTTPRequestParser.Event] { events(Array(text.utf8), piece: piece) }

    static func refusal(_ text: String) -> HTTPRefusal.Kind? {
        guard case .refused(let refusal)? = events(text).last else { return nil }
        return refusal.kind
    }

    @Test func readsARequestWithCanonicalHeaderNamesWhetherItArrivesWholeOrByteByByte() {
        let text =
            "POST /api/coupon/issue?userId=7 HTTP/1.1\r\nhost: x\r\ncontent-TYPE: application/json\r\nx-request-id: r1\r\n"
            + "Content-Length: 7\r\n\r\n{\"a\":1}"
        let expected = HTTPRequest(
            method: "POST", path: "/api/coupon/issue", query: "userId=7",
            headers: ["Host": "x", "Content-Type": "application/json", "X-Request-Id": "r1", "Content-Length": "7"],
            body: Array("{\"a\":1}".utf8))
        #expect(Self.events(text) == [.request(expected, keepAlive: true)])
        #expect(Self.events(text, piece: 1) == [.request(expected, keepAlive: true)])
    }

    @Test func knowsWhetherARequestIsHalfWayIn() {
        var parser = HTTPRequestParser(limits: Self.limits)
        #expect(!parser.hasPartialRequest)
        Array("GET /hea".utf8).withUnsafeBytes { parser.append($0) }
        #expect(parser.next() == .needMore)
        #expect(parser.hasPartialRequest)
        Array("lth HTTP/1.1\r\nHost: x\r\n\r\n".utf8).withUnsafeBytes { parser.append($0) }
        #expect(parser.next() == .request(HTTPRequest(method: "GET", path: "/health", headers: ["Host": "x"]), keepAlive: true))
        #expect(!parser.hasPartialRequest)
    }

    @Test func servesPipelinedRequestsInOrder() {
        let events = Self.events(
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(events.count == 3)
        let paths = events.compactMap { event -> String? in
            guard case .request(let request, _) = event else { return nil }
            return request.path
        }
        #expect(paths == ["/a", "/b", "/c"])
    }

    @Test func decodesChunkedBodiesWithExtensionsAndTrailersInAnyPieces() {
        let text =
            "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n1 \r\n,\r\nA\r\n0123456789\r\n0\r\nTrailer: dropped\r\n\r\n"
        for piece in [1, 3, 7, Int.max] {
            guard case .request(let request, let keepAlive)? = Self.events(text, piece: piece).first else {
                Issue.record("no request with pieces of \(piece): \(Self.events(text, piece: piece))")
                continue
            }
            #expect(String(decoding: request.body, as: UTF8.self) == "hello,0123456789", "pieces of \(piece)")
            #expect(keepAlive)
        }
    }

    @Test func refusesBodiesOverTheLimitBeforeReadingThem() {
        #expect(Self.refusal("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n") == .bodyTooLarge)
        #expect(Self.refusal("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n") == .malformed)
        let chunks = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n\(String(repeating: "a", count: 32))\r\n21\r\n"
        #expect(Self.refusal(chunks) == .bodyTooLarge)
        #expect(Self.refusal("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n") == .malformed)
        #expect(Self.refusal("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7FFFFFFFFFFFFFFF\r\n") == .bodyTooLarge)
    }

    @Test func refusesWhatIsNotAnHTTP11Request() {
        let malformed = [
            "GET health HTTP/1.1\r\nHost: x\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /\u{7F} HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\u{01}b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\nY: b\r\n\r\n",
            "GET / HTP/1.1\r\nHost: x\r\n\r\n",
            "GET /\r\n\r\n",
            "\u{16}\u{03}\u{01}\u{02}\u{00}\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\(String(repeating: "0", count: 2000))",
        ]
        for text in malformed {
            #expect(Self.refusal(text) == .malformed, "\(text.debugDescription)")
        }
        #expect(Self.refusal("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == .unsupportedVersion)
        #expect(Self.refusal("GET / HTTP/3.0\r\nHost: x\r\n\r\n") == .unsupportedVersion)
    }

    @Test func refusesHeadsOverTheLimitEvenWhenTheyNeverEnd() {
        #expect(Self.refusal("GET / HTTP/1.1\r\nHost: x\r\nX: \(String(repeating: "v", count: 2000))\r\n\r\n") == .headTooLarge)
        #expect(Self.refusal("GET /\(String(repeating: "p", count: 2000))") == .headTooLarge)
        let manyHeaders = (0..<9).map { "X-\($0): v\r\n" }.joined()
        #expect(Self.refusal("GET / HTTP/1.1\r\nHost: x\r\n\(manyHeaders)\r\n") == .malformed)
        let longTrailers = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: \(String(repeating: "t", count: 2000))"
        #expect(Self.refusal(longTrailers) == .headTooLarge)
    }

    @Test func reducesAbsoluteTargetsToTheirPath() {
        let cases = [
            ("GET http://example.com/health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", "/health", "x=1"),
            ("GET HTTPS://example.com HTTP/1.1\r\nHost: x\r\n\r\n", "/", ""),
            ("GET http://example.com?q HTTP/1.1\r\nHost: x\r\n\r\n", "/", "q"),
        ]
        for (text, path, query) in cases {
            guard case .request(let request, _)? = Self.events(text).first else {
                Issue.record("no request for \(text.debugDescription)")
                continue
            }
            #expect(request.path == path && request.query == query, "\(text.debugDescription)")
        }
    }

    @Test func asksForTheBodyOnlyAfterTheHeadPassed() {
        let text = "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok"
        let events = Self.events(text)
        #expect(events.first == .continueExpected)
        #expect(events.count == 2)
        #expect(Self.refusal("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 65\r\n\r\n") == .bodyTooLarge)
        #expect(Self.events("GET /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n").first != .continueExpected)
    }

    @Test func keepsConnectionsAliveAsTheVersionAndConnectionHeaderSay() {
        func keepAlive(_ text: String) -> Bool? {
            guard case .request(_, let keepAlive)? = Self.events(text).first else { return nil }
            return keepAlive
        }
        #expect(keepAlive("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == true)
        #expect(keepAlive("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") == true)
        #expect(keepAlive("GET / HTTP/1.9\r\nHost: x\r\n\r\n") == true)
    }

    /// Mutated requests never trap, and the parser's answer does not depend on how the bytes were
    /// cut into pieces by the network. Seeded, so a failure replays.
    @Test func mutatedRequestsGiveTheSameEventsHoweverTheyArrive() {
        let seeds = [
            "POST /api/coupon/issue?u=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":1}GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
            "GET http://h/p HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        ].map { Array($0.utf8) }
        let alphabet = Array("\r\n :;0123456789aAfF/?-\t\u{7F}".utf8) + [0, 0x80, 0xFF]
        var random = SeededRandom(seed: 0x5EED)
        for round in 0..<3000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + random.next(below: 4)) {
                let at = random.next(below: bytes.count)
                switch random.next(below: 3) {
                case 0: bytes[at] = alphabet[random.next(below: alphabet.count)]
                case 1: bytes.insert(alphabet[random.next(below: alphabet.count)], at: at)
                default: bytes.remove(at: at)
                }
            }
            let whole = Self.events(bytes)
            let piece = 1 + random.next(below: 9)
            #expect(Self.events(bytes, piece: 1) == whole, "round \(round): \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            #expect(Self.events(bytes, piece: piece) == whole, "round \(round), pieces of \(piece)")
        }
    }

    @Test func everyRefusalCarriesTheCodeNameAndStatusOfTheErrorTable() {
        for kind in HTTPRefusal.Kind.allCases {
            let code = ErrorCode(rawValue: kind.code)
            #expect(ErrorCode.all[code]?.name == kind.name, "\(kind)")
            #expect(code.httpStatus == kind.status, "\(kind)")
        }
    }

    @Test func refusalAnswersAreJSONWhateverTheMessageHolds() throws {
        let answer = HTTPServer.answer(HTTPRefusal(.malformed, "target '\"\\\u{01}\n' is odd"))
        let json = try JSONParser.parse(answer.body)
        #expect(json["code"] == .number("1010"))
        #expect(json["message"] == .string("target '\"\\\u{01}\n' is odd"))
        #expect(answer.status == 400 && answer.contentType == "application/json")
    }
}

/// SplitMix64: a fixed sequence for a fixed seed, so a failing round can be replayed.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    mutating func next(below bound: Int) -> Int { Int.random(in: 0..<bound, using: &self) }
}

// MARK: A real server, driven by a hostile client over raw TCP

@Suite struct HostileHTTPClientTests {
    static let maxBodyBytes = 1024

    /// What the server reported turning away, in order, for the tests to compare with what the
    /// client saw.
    final class RefusalLog: Sendable {
        private let seen = Mutex<[HTTPServer.Refusal]>([])
        func record(_ refusal: HTTPServer.Refusal) { seen.withLock { $0.append(refusal) } }
        var all: [HTTPServer.Refusal] { seen.withLock { $0 } }
    }

    /// Serves with small limits and timeouts, answering every request with what it saw; `body`
    /// gets the port. The server is shut down afterwards and `run` must return.
    static func withServer(
        timeouts: HTTPServer.Timeouts = HTTPServer.Timeouts(readMilliseconds: 2_000, idleMilliseconds: 5_000), maxConnections: Int = 64,
        refusals: RefusalLog = RefusalLog(), _ body: @Sendable (Int) async throws -> Void
    ) async throws {
        let server = try HTTPServer(
            url: "http://127.0.0.1:0", maxBodyBytes: maxBodyBytes, timeouts: timeouts, maxConnections: maxConnections,
            observeRefusal: refusals.record)
        let port = try #require(Int(server.url.split(separator: ":").last ?? ""))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await server.run { request in
                    let text = #"{"code":0,"method":"\#(request.method)","path":"\#(request.path)","bodyBytes":\#(request.body.count)}"#
                    return HTTPResponse(status: 200, body: Array(text.utf8))
                }
            }
            do {
                try await body(port)
            } catch {
                await server.shutdown()
                throw error
            }
            await server.shutdown()
            try await group.waitForAll()
        }
    }

    /// The answer must be JSON with a numeric code, then a fresh connection must still be served.
    static func expectJSONRefusal(
        _ response: RawHTTPResponse?, status: Int, code: UInt16, port: Int, _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let response = try #require(response, "\(label): no answer", sourceLocation: sourceLocation)
        #expect(response.status == status, "\(label): \(response.status) \(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers["content-type"] == "application/json", "\(label)", sourceLocation: sourceLocation)
        let json = try JSONParser.parse(response.body)
        #expect(json["code"] == .number(String(code)), "\(label): \(response.text)", sourceLocation: sourceLocation)
        if case .string(let message)? = json["message"] {
            #expect(!message.isEmpty, sourceLocation: sourceLocation)
        } else {
            Issue.record("\(label): no message in \(response.text)", sourceLocation: sourceLocation)
        }
        try await expectServed(port: port, label, sourceLocation: sourceLocation)
    }

    static func expectServed(port: Int, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let client = try await RawHTTPClient.connect(port: port)
        try await client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try await client.readResponse()
        #expect(response?.status == 200, "after \(label): \(response?.text ?? "no answer")", sourceLocation: sourceLocation)
        await client.close()
    }

    @Test func everyRequestTheServerRefusesGetsJSONWithACode() async throws {
        let refused: [(String, Int, UInt16, String)] = [
            ("GET health HTTP/1.1\r\nHost: t\r\n\r\n", 400, 1010, "origin form without /"),
            ("OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", 400, 1010, "asterisk form"),
            ("GARBAGE\r\n\r\n", 400, 1010, "bad request line"),
            ("GET / HTTP/1.1\r\n\r\n", 400, 1010, "no Host"),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, 1001, "HTTP/2 preface"),
            ("GET / HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "b", count: 20_000))\r\n\r\n", 431, 1012, "header over the limit"),
            ("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413, 1011, "declared body over the limit"),
            ("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 400, 1010, "unknown transfer coding"),
        ]
        let refusals = RefusalLog()
        try await Self.withServer(refusals: refusals) { port in
            for (request, status, code, label) in refused {
                let client = try await RawHTTPClient.connect(port: port)
                try await client.send(request)
                let response = try await client.readResponse()
                #expect(response?.headers["connection"] == "close", "\(label)")
                #expect(try await client.readUntilClosed().isEmpty, "\(label): the connection is closed after the refusal")
                await client.close()
                try await Self.expectJSONRefusal(response, status: status, code: code, port: port, label)
            }
        }
        // Each refusal was reported for the metrics, with the code the client read.
        #expect(
            refusals.all.map(\.label)
                == refused.map { request, _, code, _ in
                    HTTPRefusal.Kind.allCases.first { $0.code == code }?.name ?? "code \(code) of \(request.prefix(20))"
                })
    }

    @Test func aBodyOverTheLimitSentInFullStillGetsItsAnswer() async throws {
        try await Self.withServer { port in
            let client = try await RawHTTPClient.connect(port: port)
            let body = String(repeating: "x", count: 200_000)
            try await client.send("POST /api/coupon/issue HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let response = try await client.readResponse()
            await client.close()
            try await Self.expectJSONRefusal(response, status: 413, code: 1011, port: port, "200 kB body")
        }
    }

    @Test func chunkedBodiesAreDecodedAndTheirLimitHolds() async throws {
        try await Self.withServer { port in
            let client = try await RawHTTPClient.connect(port: port)
            try await client.send("POST /api/coupon/issue HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n")
            try await client.send("3\r\n:1}\r\n0\r\n\r\n")
            let response = try #require(try await client.readResponse())
            #expect(response.status == 200)
            #expect(try JSONParser.parse(response.body)["bodyBytes"] == .number("7"), "\(response.text)")

            let chunk = String(repeating: "c", count: 600)
            try await client.send("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n")
            let tooLarge = try await client.readResponse()
            await client.close()
            try await Self.expectJSONRefusal(tooLarge, status: 413, code: 1011, port: port, "chunked body over the limit")
        }
    }

    @Test func aConnectionThatSendsHalfARequestIsAnsweredAndClosed() async throws {
        let refusals = RefusalLog()
        try await Self.withServer(timeouts: HTTPServer.Timeouts(readMilliseconds: 200, idleMilliseconds: 60_000), refusals: refusals) { port in
            let client = try await RawHTTPClient.connect(port: port)
            try await client.send("GET /hea")
            // Waits as long as the client's own receive limit (`Patience.limit`) for the server to give up first.
            let response = try await client.readResponse()
            #expect(try await client.readUntilClosed().isEmpty)
            await client.close()
            try await Self.expectJSONRefusal(response, status: 408, code: 1013, port: port, "half a request line")

            // A client trickling a head that never ends is cut off all the same: the read timeout
            // runs from the first byte of a request, not from the last.
            let trickler = try await RawHTTPClient.connect(port: port)
            try await trickler.send("GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            var answered: RawHTTPResponse?
            for _ in 0..<600 where answered == nil {
                guard (try? await trickler.send("a")) != nil else { break }
                try await Task.sleep(for: .milliseconds(50))
                answered = try await trickler.pollResponse()
            }
            if answered == nil { answered = try await trickler.readResponse() }
            await trickler.close()
            #expect(answered?.status == 408, "a trickled head is cut off: \(answered?.text ?? "no answer")")
        }
        #expect(refusals.all == [.request(.timedOut), .request(.timedOut)])
    }

    @Test func anIdleConnectionIsClosedSilently() async throws {
        try await Self.withServer(timeouts: HTTPServer.Timeouts(readMilliseconds: 5_000, idleMilliseconds: 200)) { port in
            let silent = try await RawHTTPClient.connect(port: port)
            #expect(try await silent.readUntilClosed().isEmpty)
            await silent.close()

            let keptAlive = try await RawHTTPClient.connect(port: port)
            try await keptAlive.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await keptAlive.readResponse()?.status == 200)
            #expect(try await keptAlive.readUntilClosed().isEmpty)
            await keptAlive.close()
            try await Self.expectServed(port: port, "idle connections closed")
        }
    }

    @Test func keepAlivePipeliningAndHeadWork() async throws {
        try await Self.withServer { port in
            let client = try await RawHTTPClient.connect(port: port)
            try await client.send(
                "GET /a HTTP/1.1\r\nHost: t\r\n\r\nPOST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcHEAD /c HTTP/1.1\r\nHost: t\r\n\r\n")
            let first = try #require(try await client.readResponse())
            let second = try #require(try await client.readResponse())
            let third = try #require(try await client.readResponse(headOnly: true))
            #expect(try JSONParser.parse(first.body)["path"] == .string("/a"))
            #expect(try JSONParser.parse(second.body)["bodyBytes"] == .number("3"))
            #expect(third.status == 200 && third.body.isEmpty && Int(third.headers["content-length"] ?? "") ?? 0 > 0)
            try await client.send("GET /d HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
            #expect(try await client.readResponse()?.status == 200)
            #expect(try await client.readUntilClosed().isEmpty)
            await client.close()
        }
    }

    @Test func connectionsPastTheLimitAreClosedAndTheirRoomComesBack() async throws {
        let refusals = RefusalLog()
        try await Self.withServer(maxConnections: 2, refusals: refusals) { port in
            let first = try await RawHTTPClient.connect(port: port)
            let second = try await RawHTTPClient.connect(port: port)
            for client in [first, second] {
                try await client.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try await client.readResponse()?.status == 200)
            }
            let third = try await RawHTTPClient.connect(port: port)
            _ = try? await third.send("GET /c HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await third.readResponse() == nil, "a third connection is closed unanswered")
            await third.close()
            await first.close()
            // The server sees the close on its own time: try again until the room is back.
            var served = false
            for _ in 0..<200 where !served {
                let next = try await RawHTTPClient.connect(port: port)
                if (try? await next.send("GET /b HTTP/1.1\r\nHost: t\r\n\r\n")) != nil, try await next.readResponse()?.status == 200 {
                    served = true
                } else {
                    try await Task.sleep(for: .milliseconds(50))
                }
                await next.close()
            }
            #expect(served)
            await second.close()
        }
        #expect(refusals.all.first == .connectionLimit, "the connection closed unanswered is counted")
        #expect(refusals.all.allSatisfy { $0 == .connectionLimit })
    }

    @Test func shutdownClosesIdleConnectionsAndRunReturns() async throws {
        let client = try await Self.withServerReturningClient()
        #expect(try await client.readUntilClosed().isEmpty)
        await client.close()
    }

    /// Opens a kept-alive connection, then lets `withServer` shut down with it still open.
    static func withServerReturningClient() async throws -> RawHTTPClient {
        let holder = ClientHolder()
        try await withServer { port in
            let client = try await RawHTTPClient.connect(port: port)
            try await client.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await client.readResponse()?.status == 200)
            holder.client.withLock { $0 = client }
        }
        return try #require(holder.client.withLock { $0 })
    }
}

private final class ClientHolder: Sendable {
    let client = Mutex<RawHTTPClient?>(nil)
}

struct RawHTTPResponse: Sendable {
    var status: Int
    /// Lowercased names.
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking TCP client that writes whatever bytes it is given; each call runs on a thread of its
/// own, so a wait never holds a thread that the server or another test needs. Every receive gives up after
/// `Patience.limit`, so a server that never answers fails the test instead of hanging it.
final class RawHTTPClient: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let descriptor: Int32
    private let received = Mutex<[UInt8]>([])

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    private static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    static func connect(port: Int) async throws -> RawHTTPClient {
        try await blocking {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw Failure(description: "socket: errno \(errno)") }
            // A fixed 30 s once; two fresh clones beside a fuzz campaign waited longer than that for a shutdown.
            var limit = timeval(tv_sec: Int(Patience.limit.components.seconds), tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                Glibc.close(descriptor)
                throw Failure(description: "connect to \(port): errno \(errno)")
            }
            return RawHTTPClient(descriptor: descriptor)
        }
    }

    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) async throws {
        let descriptor = self.descriptor
        try await Self.blocking {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent > 0 else { throw Failure(description: "send: errno \(errno)") }
                offset += sent
            }
        }
    }

    /// Appends what one recv returns; false on end of stream or reset.
    private func receiveOnce(flags: Int32 = 0) throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, flags) }
        if count > 0 {
            received.withLock { $0 += chunk[..<count] }
            return true
        }
        if count == 0 || errno == ECONNRESET { return false }
        if errno == EAGAIN || errno == EWOULDBLOCK {
            if flags & Int32(MSG_DONTWAIT) != 0 { return true }
            throw Failure(description: "no answer within \(Patience.limit)")
        }
        throw Failure(description: "recv: errno \(errno)")
    }

    /// The next response, or nil when the connection closed first.
    func readResponse(headOnly: Bool = false) async throws -> RawHTTPResponse? {
        try await Self.blocking {
            while true {
                if let response = self.takeResponse(headOnly: headOnly) { return response }
                guard try self.receiveOnce() else { return self.takeResponse(headOnly: headOnly) }
            }
        }
    }

    /// A complete response that has already arrived, without waiting for one.
    func pollResponse() async throws -> RawHTTPResponse? {
        try await Self.blocking {
            while true {
                let before = self.received.withLock { $0.count }
                guard try self.receiveOnce(flags: Int32(MSG_DONTWAIT)), self.received.withLock({ $0.count }) > before else { break }
            }
            return self.takeResponse(headOnly: false)
        }
    }

    /// Everything the server sends until it closes the connection.
    func readUntilClosed() async throws -> [UInt8] {
        try await Self.blocking {
            while try self.receiveOnce() {}
            return self.received.withLock { bytes in
                defer { bytes.removeAll() }
                return bytes
            }
        }
    }

    private func takeResponse(headOnly: Bool) -> RawHTTPResponse? {
        received.withLock { bytes in
            let terminator = Array("\r\n\r\n".utf8)
            guard let headEnd = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<($0 + 4)]) == terminator }) else {
                return nil
            }
            let lines = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
            let statusParts = lines[0].split(separator: " ")
            guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = headOnly ? 0 : Int(headers["content-length"] ?? "0") ?? 0
            let bodyStart = headEnd + 4
            guard bytes.count >= bodyStart + length else { return nil }
            let response = RawHTTPResponse(status: status, headers: headers, body: Array(bytes[bodyStart..<(bodyStart + length)]))
            bytes.removeFirst(bodyStart + length)
            return response
        }
    }

    func close() async {
        Glibc.close(descriptor)
    }
}

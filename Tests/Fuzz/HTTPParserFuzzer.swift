// libFuzzer target `http-parser`: the HTTP/1.1 request framing of Shared/Messaging/HTTPRequestParser.swift,
// which reads every byte a client sends to coupon-center's HTTP front, and the answer reader of
// HTTPClient.swift, which reads what a webhook receiver sends back. Deploy/fuzz compiles this file
// and FuzzSupport.swift together with the sources of Shared/Messaging (not against the Messaging
// module): the parser is internal to that module, and it needs `HTTPRequest` and `HTTPServer.splitURI`
// from HTTPServer.swift, which imports CNNG, so the whole folder comes along and nng is linked.
//
// Input layout: byte 0 picks the limits, byte 1 seeds how the rest is cut into network reads, the
// rest is the connection's bytes. The same input is always cut the same way.
//
// Properties (a violation is a fatalError, so libFuzzer keeps the input):
//   - the events up to the first refusal are the same whether the bytes arrive whole, byte by byte,
//     in pieces of a fixed size or in pieces of varying sizes (the notion of the parser's own tests,
//     HTTPRequestParserTests.events);
//   - after a refusal the parser keeps answering that refusal;
//   - a request's body never exceeds `maxBodyBytes`; it has at most `maxHeaderCount` headers, and its
//     request line and headers, counted as the fewest bytes they can have taken on the wire, fit in
//     `maxHeadBytes`; its path starts with `/`;
//   - `continueExpected` comes only right before the body of a request, never twice in a row;
//   - the requests together never hold more bytes than the input (nothing invented).
func fuzzTarget(_ bytes: [UInt8]) {
    guard bytes.count >= 2 else { return }
    let limits = limitChoices[Int(bytes[0]) % limitChoices.count]
    let stream = Array(bytes[2...])
    let whole = events(stream, limits: limits, cuts: [])
    let fixedPiece = 1 + Int(bytes[1] % 16)
    let cutSchemes: [(String, [Int])] = [
        ("byte by byte", Array(repeating: 1, count: stream.count)),
        ("pieces of \(fixedPiece)", Array(repeating: fixedPiece, count: stream.count / fixedPiece + 1)),
        ("varying pieces", varyingPieces(count: stream.count, seed: bytes[1])),
    ]
    for (name, cuts) in cutSchemes {
        let cut = events(stream, limits: limits, cuts: cuts)
        guard cut == whole else {
            propertyFailed("fed \(name), the events differ: \(describe(cut)) instead of \(describe(whole))", input: bytes)
        }
    }
    check(whole, limits: limits, streamBytes: stream.count, input: bytes)
    checkAnswerReader(stream, fixedPiece: fixedPiece, input: bytes)
}

/// The other direction: the same bytes as a webhook receiver's answer, read by the event delivery's
/// `HTTPAnswerReader` (HTTPClient.swift). Whole, byte by byte or in pieces, it comes to the same
/// outcome; a complete answer has a status of 100...599; after `malformed` it stays malformed.
func checkAnswerReader(_ stream: [UInt8], fixedPiece: Int, input: [UInt8]) {
    let whole = answerOutcome(stream, piece: max(1, stream.count))
    for piece in [1, fixedPiece] {
        let cut = answerOutcome(stream, piece: piece)
        guard cut == whole else { propertyFailed("the answer read in pieces of \(piece) is \(cut), whole \(whole)", input: input) }
    }
    if case .complete(let answer) = whole, !(100...599).contains(answer.status) {
        propertyFailed("an answer completed with status \(answer.status)", input: input)
    }
}

/// What the reader makes of `stream` fed in pieces of `piece` bytes, then closed if it still waits.
func answerOutcome(_ stream: [UInt8], piece: Int) -> HTTPAnswerReader.Progress {
    var reader = HTTPAnswerReader()
    var offset = 0
    while offset < stream.count {
        let end = min(stream.count, offset + piece)
        let progress = reader.feed(stream[offset..<end])
        offset = end
        switch progress {
        case .needMore: continue
        case .malformed:
            guard case .malformed = reader.feed([0x41]) else { propertyFailed("the reader recovered after malformed", input: stream) }
            return progress
        case .complete: return progress
        }
    }
    return reader.closed()
}

/// Small limits, so 4096 bytes of input can exceed each of them, and the server's defaults.
let limitChoices: [HTTPRequestParser.Limits] = [
    HTTPRequestParser.Limits(maxHeadBytes: 1024, maxBodyBytes: 64, maxHeaderCount: 8),
    HTTPRequestParser.Limits(maxHeadBytes: 64, maxBodyBytes: 0, maxHeaderCount: 1),
    HTTPRequestParser.Limits(maxHeadBytes: 300, maxBodyBytes: 1, maxHeaderCount: 3),
    HTTPRequestParser.Limits(),
]

/// Piece sizes of 1 to 32 bytes from a small linear congruential sequence seeded by `seed`.
func varyingPieces(count: Int, seed: UInt8) -> [Int] {
    var state = UInt32(seed) &* 2_654_435_761 &+ 1
    var pieces: [Int] = []
    var total = 0
    while total < count {
        state = state &* 1_103_515_245 &+ 12345
        let piece = 1 + Int((state >> 16) % 32)
        pieces.append(piece)
        total += piece
    }
    return pieces
}

/// Feeds `stream` in reads of the sizes in `cuts` (all at once when empty, the remainder at the end)
/// and collects every event up to and including the first refusal, as the server's connection loop
/// does. Also checks that a refused parser stays refused.
func events(_ stream: [UInt8], limits: HTTPRequestParser.Limits, cuts: [Int]) -> [HTTPRequestParser.Event] {
    var parser = HTTPRequestParser(limits: limits)
    var collected: [HTTPRequestParser.Event] = []
    var offset = 0
    var pieces = cuts.makeIterator()
    repeat {
        let end = min(stream.count, offset + (pieces.next() ?? stream.count))
        stream[offset..<end].withUnsafeBytes { parser.append($0) }
        offset = end
        while true {
            let event = parser.next()
            if event == .needMore { break }
            collected.append(event)
            if case .refused = event {
                guard parser.next() == event else {
                    propertyFailed("a refused parser answered \(parser.next()) after \(event)", input: stream)
                }
                return collected
            }
        }
    } while offset < stream.count
    return collected
}

func check(_ events: [HTTPRequestParser.Event], limits: HTTPRequestParser.Limits, streamBytes: Int, input: [UInt8]) {
    var requestBytes = 0
    var previous: HTTPRequestParser.Event?
    for event in events {
        switch event {
        case .needMore:
            propertyFailed("needMore was collected as an event", input: input)
        case .continueExpected:
            if previous == .continueExpected { propertyFailed("continueExpected twice in a row", input: input) }
        case .request(let request, _):
            guard request.body.count <= limits.maxBodyBytes else {
                propertyFailed("a body of \(request.body.count) bytes passed the limit of \(limits.maxBodyBytes)", input: input)
            }
            guard request.headers.count <= limits.maxHeaderCount else {
                propertyFailed("\(request.headers.count) headers passed the limit of \(limits.maxHeaderCount)", input: input)
            }
            // The fewest bytes the head can have taken on the wire: the request line (`M SP /p?q SP
            // HTTP/1.x CRLF`), each header line (`name:value CRLF`, a repeated one joined with ", ",
            // which is shorter than its ":" and CRLF), the closing CRLF. A U+FFFD counts one byte, as it
            // may stand for one invalid byte.
            let queryBytes = request.query.isEmpty ? 0 : 1 + wireBytes(request.query)
            let requestLineBytes = request.method.utf8.count + 1 + request.path.utf8.count + queryBytes + 1 + 8 + 2
            let headBytes = requestLineBytes + request.headers.reduce(2) { $0 + $1.key.utf8.count + 1 + wireBytes($1.value) + 2 }
            guard headBytes <= limits.maxHeadBytes else {
                propertyFailed("a head of at least \(headBytes) bytes passed the limit of \(limits.maxHeadBytes)", input: input)
            }
            guard request.path.hasPrefix("/"), !request.method.isEmpty else {
                propertyFailed("request with method '\(request.method)' and path '\(request.path)'", input: input)
            }
            requestBytes += request.method.utf8.count + request.path.utf8.count + request.body.count
        case .refused(let refusal):
            _ = refusal.kind.code
            _ = refusal.kind.name
            _ = refusal.kind.status
        }
        previous = event
    }
    guard requestBytes <= streamBytes else {
        propertyFailed("requests hold \(requestBytes) bytes of a \(streamBytes)-byte input", input: input)
    }
}

/// The bytes `text` took at least before decoding repaired it: its UTF-8, with each U+FFFD as one byte.
func wireBytes(_ text: String) -> Int {
    text.unicodeScalars.reduce(0) { $0 + ($1 == "\u{FFFD}" ? 1 : UTF8.width($1)) }
}

func describe(_ events: [HTTPRequestParser.Event]) -> String {
    events.map { event -> String in
        switch event {
        case .needMore: "needMore"
        case .continueExpected: "continueExpected"
        case .request(let request, let keepAlive):
            "request(\(request.method) \(request.path)?\(request.query), \(request.headers.count) headers, "
                + "\(request.body.count)-byte body, keepAlive: \(keepAlive))"
        case .refused(let refusal): "refused(\(refusal.kind.name): \(refusal.message))"
        }
    }.joined(separator: ", ")
}

func seeds() throws -> [(name: String, bytes: [UInt8])] {
    let huge = String(repeating: "a", count: 2000)
    let requests: [(String, UInt8, String)] = [
        ("get", 0, "GET /api/coupon/templates?page=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: fuzz\r\n\r\n"),
        ("post", 0, "POST /api/coupon/issue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"userId\":1}\n"),
        (
            "chunked", 0,
            "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n"
        ),
        (
            "pipelined", 0,
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ),
        ("absolute-form", 0, "GET https://coupons.example:8443/api/stats?x=1 HTTP/1.1\r\nHost: coupons.example\r\nConnection: close\r\n\r\n"),
        ("options-star", 0, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("huge-header", 3, "GET / HTTP/1.1\r\nHost: x\r\nX-Huge: \(huge)\r\nX-Huge: \(huge)\r\n\r\n"),
        ("huge-head-small-limit", 0, "GET / HTTP/1.1\r\nHost: x\r\nX-Huge: \(huge)\r\n\r\n"),
        ("too-many-headers", 2, "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
        ("body-too-large", 2, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"),
        // Bodies exactly at the limit: one byte more must be refused, whichever way it is framed.
        ("content-length-at-limit", 2, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nh"),
        ("chunked-at-limit", 2, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nh\r\n0\r\n\r\n"),
        (
            "chunks-summing-to-limit", 0,
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n\(String(repeating: "a", count: 32))\r\n"
                + "20\r\n\(String(repeating: "b", count: 32))\r\n0\r\n\r\n"
        ),
        ("head-at-limit", 1, "GET / HTTP/1.1\r\nHost: \(String(repeating: "h", count: 64 - 26))\r\n\r\n"),
        ("smuggling", 0, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("http2-preface", 0, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ]
    return requests.map { name, limits, text in (name, [limits, 7] + Array(text.utf8)) }
}

/// Why the server refused a request before any handler saw it. Each kind is one stable error code of
/// the public contract; `Tests/ServiceKitTests/HTTPServerTests.swift` checks code, name and status
/// against `ErrorCode`, the one table (this module imports no Wire, so it cannot look them up).
public struct HTTPRefusal: Error, Sendable, Equatable {
    public enum Kind: Sendable, CaseIterable {
        /// The bytes are not an HTTP/1.x request: request line, header syntax, framing, chunk encoding.
        case malformed
        /// Another HTTP version (HTTP/2's preface, HTTP/0.9, HTTP/3.0).
        case unsupportedVersion
        /// The request line and headers (or a chunked body's trailers) exceed the head limit.
        case headTooLarge
        /// The body, declared or chunked, exceeds the body limit.
        case bodyTooLarge
        /// The request did not arrive completely within the read timeout.
        case timedOut
        /// The server is stopping and takes no new request.
        case shuttingDown

        public var code: UInt16 {
            switch self {
            case .malformed: 1010
            case .unsupportedVersion: 1001
            case .headTooLarge: 1012
            case .bodyTooLarge: 1011
            case .timedOut: 1013
            case .shuttingDown: 1503
            }
        }

        public var name: String {
            switch self {
            case .malformed: "MALFORMED_HTTP"
            case .unsupportedVersion: "UNSUPPORTED_VERSION"
            case .headTooLarge: "HEADERS_TOO_LARGE"
            case .bodyTooLarge: "PAYLOAD_TOO_LARGE"
            case .timedOut: "REQUEST_TIMEOUT"
            case .shuttingDown: "SHUTTING_DOWN"
            }
        }

        public var status: Int {
            switch self {
            case .malformed, .unsupportedVersion: 400
            case .headTooLarge: 431
            case .bodyTooLarge: 413
            case .timedOut: 408
            case .shuttingDown: 503
            }
        }
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// HTTP/1.1 request framing (RFC 9112), fed the bytes of one connection as they arrive and asked
/// for the next event. Pure: no sockets, no clocks, so every hostile input is a unit test.
///
/// Contract:
/// 1. Leading empty lines are skipped; the head (request line and headers) must end with an empty
///    line within `maxHeadBytes`, else `headTooLarge`.
/// 2. The request line is `method SP target SP HTTP/1.x`; another major version is
///    `unsupportedVersion`. The target is a path starting with `/` (origin form) or an `http(s)://`
///    URL (absolute form, reduced to its path); `*`, `host:port` and bare words are `malformed`.
/// 3. Header names are tokens with no space before the colon; values hold no control byte but tab;
///    folded lines, more than `maxHeaderCount` headers, a missing or repeated `Host` in HTTP/1.1 are
///    `malformed`.
/// 4. The body is framed by `Content-Length` (digits, repeated values must agree) or by
///    `Transfer-Encoding: chunked` (HTTP/1.1 only, never with `Content-Length`, no other coding);
///    a declared length or the sum of chunks over `maxBodyBytes` is `bodyTooLarge`, refused before
///    the bytes are read. No framing header means no body.
/// 5. `Expect: 100-continue` on a request with a body yields `continueExpected` once, after the
///    head passed every check, so the client sends the body only when it will be read.
/// After a refusal the framing of the stream is lost: the caller answers and closes the connection.
struct HTTPRequestParser {
    struct Limits: Sendable {
        var maxHeadBytes = 16 * 1024
        var maxBodyBytes = 1 << 20
        var maxHeaderCount = 100
    }

    enum Event: Equatable {
        case needMore
        case continueExpected
        case request(HTTPRequest, keepAlive: Bool)
        case refused(HTTPRefusal)
    }

    private struct Head {
        var method: String
        var path: String
        var query: String
        var headers: [String: String]
        var keepAlive: Bool
        var expectsContinue: Bool
    }

    private enum Phase {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(bytesSeen: Int)
        case failed(HTTPRefusal)
    }

    /// The longest chunk-size line (size and extensions) accepted.
    static let maxChunkLineBytes = 1024

    let limits: Limits
    private var buffer: [UInt8] = []
    /// The first byte not yet consumed.
    private var start = 0
    /// Where the search for the end of the head resumes, so a head trickled in byte by byte is
    /// scanned once, not once per byte.
    private var scanned = 0
    private var phase = Phase.head
    private var head: Head?
    private var body: [UInt8] = []

    init(limits: Limits) {
        self.limits = limits
    }

    /// True while some bytes of a request have arrived but not the whole request: the connection is
    /// reading (read timeout), not idle (idle timeout).
    var hasPartialRequest: Bool {
        if case .head = phase { return start < buffer.count }
        return true
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start == buffer.count {
            // A connection that once sent a large body does not keep its room while it idles.
            buffer.removeAll(keepingCapacity: buffer.capacity <= 16 * 1024)
            start = 0
            scanned = 0
        } else if start > 64 * 1024 {
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func next() -> Event {
        while true {
            switch phase {
            case .failed(let refusal):
                return .refused(refusal)
            case .head:
                skipLeadingEmptyLines()
                guard let headEnd = findHeadEnd() else {
                    if buffer.count - start > limits.maxHeadBytes {
                        return fail(.headTooLarge, "request line and headers exceed \(limits.maxHeadBytes) bytes")
                    }
                    return .needMore
                }
                if headEnd - start > limits.maxHeadBytes {
                    return fail(.headTooLarge, "request line and headers exceed \(limits.maxHeadBytes) bytes")
                }
                let lines = buffer[start..<(headEnd - 4)]
                start = headEnd
                scanned = headEnd
                let framing: Framing
                do throws(HTTPRefusal) {
                    (head, framing) = try parseHead(lines)
                } catch {
                    phase = .failed(error)
                    return .refused(error)
                }
                body = []
                switch framing {
                case .none:
                    return complete()
                case .length(let length):
                    body.reserveCapacity(length)
                    phase = .fixedBody(remaining: length)
                case .chunked:
                    phase = .chunkSize
                }
                if head?.expectsContinue == true {
                    head?.expectsContinue = false
                    return .continueExpected
                }
            case .fixedBody(let remaining):
                let taken = min(remaining, buffer.count - start)
                body.append(contentsOf: buffer[start..<(start + taken)])
                start += taken
                if taken == remaining { return complete() }
                phase = .fixedBody(remaining: remaining - taken)
                return .needMore
            case .chunkSize:
                guard let lineEnd = findLineEnd(within: Self.maxChunkLineBytes) else {
                    if buffer.count - start > Self.maxChunkLineBytes {
                        return fail(.malformed, "chunk-size line longer than \(Self.maxChunkLineBytes) bytes")
                    }
                    return .needMore
                }
                let line = buffer[start..<lineEnd]
                start = lineEnd + 2
                guard let size = parseChunkSize(line) else {
                    return fail(.malformed, "chunk size is not a hexadecimal number")
                }
                guard size <= limits.maxBodyBytes - body.count else {
                    return fail(.bodyTooLarge, "chunked body exceeds \(limits.maxBodyBytes) bytes")
                }
                phase = size == 0 ? .trailers(bytesSeen: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let taken = min(remaining, buffer.count - start)
                body.append(contentsOf: buffer[start..<(start + taken)])
                start += taken
                guard taken == remaining else {
                    phase = .chunkData(remaining: remaining - taken)
                    return .needMore
                }
                phase = .chunkDataEnd
            case .chunkDataEnd:
                guard buffer.count - start >= 2 else { return .needMore }
                guard buffer[start] == cr && buffer[start + 1] == lf else {
                    return fail(.malformed, "chunk data longer than its declared size")
                }
                start += 2
                phase = .chunkSize
            case .trailers(let bytesSeen):
                // Trailer fields are read past and dropped: nothing of ours reads them.
                let room = limits.maxHeadBytes - bytesSeen
                guard let lineEnd = findLineEnd(within: room) else {
                    if buffer.count - start > room {
                        return fail(.headTooLarge, "trailers exceed \(limits.maxHeadBytes) bytes")
                    }
                    return .needMore
                }
                let lineLength = lineEnd - start
                start = lineEnd + 2
                if lineLength == 0 { return complete() }
                phase = .trailers(bytesSeen: bytesSeen + lineLength + 2)
            }
        }
    }

    private mutating func fail(_ kind: HTTPRefusal.Kind, _ message: String) -> Event {
        let refusal = HTTPRefusal(kind, message)
        phase = .failed(refusal)
        return .refused(refusal)
    }

    private mutating func complete() -> Event {
        guard let head else { return fail(.malformed, "request without a head") }
        self.head = nil
        phase = .head
        let request = HTTPRequest(method: head.method, path: head.path, query: head.query, headers: head.headers, body: body)
        body = []
        return .request(request, keepAlive: head.keepAlive)
    }

    private mutating func skipLeadingEmptyLines() {
        while buffer.count - start >= 2 && buffer[start] == cr && buffer[start + 1] == lf {
            start += 2
            scanned = max(scanned, start)
        }
    }

    /// The index just past the head's closing CRLF CRLF, if it has arrived.
    private mutating func findHeadEnd() -> Int? {
        var index = max(start, scanned - 3)
        while index + 3 < buffer.count {
            if buffer[index] == cr && buffer[index + 1] == lf && buffer[index + 2] == cr && buffer[index + 3] == lf {
                return index + 4
            }
            index += 1
        }
        scanned = buffer.count
        return nil
    }

    /// The index of the CR of the next CRLF, looking at most `limit` bytes past `start`.
    private func findLineEnd(within limit: Int) -> Int? {
        let end = min(buffer.count - 1, start + limit)
        var index = start
        while index < end {
            if buffer[index] == cr && buffer[index + 1] == lf { return index }
            index += 1
        }
        return nil
    }

    private enum Framing {
        case none
        case length(Int)
        case chunked
    }

    private func parseHead(_ bytes: ArraySlice<UInt8>) throws(HTTPRefusal) -> (Head, Framing) {
        var lines = split(bytes)
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: space, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte) else {
            throw HTTPRefusal(.malformed, "request line is not 'METHOD /path HTTP/1.1'")
        }
        let minorVersion = try parseVersion(parts[2])
        let (path, query) = try parseTarget(parts[1])

        guard lines.count <= limits.maxHeaderCount else {
            throw HTTPRefusal(.malformed, "more than \(limits.maxHeaderCount) header fields")
        }
        var headers: [String: String] = [:]
        var hostCount = 0
        var contentLengths: [Substring] = []
        var transferCodings: [String] = []
        var connectionTokens: [String] = []
        for line in lines {
            guard let colon = line.firstIndex(of: colonByte) else {
                throw HTTPRefusal(.malformed, "header line without a colon")
            }
            let nameBytes = line[..<colon]
            guard !nameBytes.isEmpty, nameBytes.allSatisfy(isTokenByte) else {
                throw HTTPRefusal(.malformed, "header name is not a token (no spaces, no folded lines)")
            }
            let valueBytes = line[(colon + 1)...]
            guard valueBytes.allSatisfy(isFieldValueByte) else {
                throw HTTPRefusal(.malformed, "header \(String(decoding: nameBytes, as: UTF8.self)) holds a control character")
            }
            let name = canonicalName(nameBytes)
            let value = String(decoding: valueBytes, as: UTF8.self).trimmingOptionalWhitespace()
            switch name {
            case "Host": hostCount += 1
            case "Content-Length": contentLengths += value.split(separator: ",").map { $0.trimmingOptionalWhitespace()[...] }
            case "Transfer-Encoding": transferCodings += value.lowercased().split(separator: ",").map { $0.trimmingOptionalWhitespace() }
            case "Connection": connectionTokens += value.lowercased().split(separator: ",").map { $0.trimmingOptionalWhitespace() }
            default: break
            }
            if let earlier = headers[name] {
                headers[name] = earlier + ", " + value
            } else {
                headers[name] = value
            }
        }
        if minorVersion >= 1 && hostCount != 1 {
            throw HTTPRefusal(.malformed, hostCount == 0 ? "HTTP/1.1 request without a Host header" : "more than one Host header")
        }

        let framing: Framing
        if !transferCodings.isEmpty {
            guard minorVersion >= 1 else { throw HTTPRefusal(.malformed, "Transfer-Encoding in an HTTP/1.0 request") }
            guard contentLengths.isEmpty else {
                throw HTTPRefusal(.malformed, "both Transfer-Encoding and Content-Length: the body's length is ambiguous")
            }
            guard transferCodings == ["chunked"] else {
                throw HTTPRefusal(
                    .malformed, "Transfer-Encoding '\(transferCodings.joined(separator: ", "))' is not supported; send chunked or Content-Length")
            }
            framing = .chunked
        } else if let first = contentLengths.first {
            guard contentLengths.allSatisfy({ $0 == first }) else {
                throw HTTPRefusal(.malformed, "Content-Length values disagree")
            }
            guard let length = parseDecimal(first) else {
                throw HTTPRefusal(.malformed, "Content-Length is not a decimal number")
            }
            guard length <= limits.maxBodyBytes else {
                throw HTTPRefusal(.bodyTooLarge, "body of \(first) bytes exceeds \(limits.maxBodyBytes) bytes")
            }
            framing = length == 0 ? .none : .length(length)
        } else {
            framing = .none
        }

        let keepAlive = minorVersion >= 1 ? !connectionTokens.contains("close") : connectionTokens.contains("keep-alive")
        let hasBody: Bool
        if case .none = framing { hasBody = false } else { hasBody = true }
        let expectsContinue = minorVersion >= 1 && hasBody && headers["Expect"]?.lowercased() == "100-continue"
        let head = Head(
            method: String(decoding: parts[0], as: UTF8.self), path: path, query: query, headers: headers, keepAlive: keepAlive,
            expectsContinue: expectsContinue)
        return (head, framing)
    }

    /// The minor version of `HTTP/1.x`; a higher 1.x is served as 1.1 (RFC 9110, 2.5).
    private func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPRefusal) -> Int {
        let text = Array(bytes)
        guard text.count == 8, text.starts(with: Array("HTTP/".utf8)), text[6] == UInt8(ascii: "."),
            isDigit(text[5]), isDigit(text[7])
        else {
            throw HTTPRefusal(.malformed, "request line does not end with an HTTP version such as HTTP/1.1")
        }
        guard text[5] == UInt8(ascii: "1") else {
            throw HTTPRefusal(.unsupportedVersion, "HTTP/\(text[5] - UInt8(ascii: "0")).\(text[7] - UInt8(ascii: "0")) is not served; use HTTP/1.1")
        }
        return min(Int(text[7] - UInt8(ascii: "0")), 1)
    }

    private func parseTarget(_ bytes: ArraySlice<UInt8>) throws(HTTPRefusal) -> (path: String, query: String) {
        guard bytes.allSatisfy({ $0 > space && $0 < 0x7F }) else {
            throw HTTPRefusal(.malformed, "request target holds a byte that is not visible ASCII")
        }
        var target = String(decoding: bytes, as: UTF8.self)
        if !target.hasPrefix("/") {
            let lowered = target.lowercased()
            guard let schemeEnd = ["http://", "https://"].first(where: lowered.hasPrefix)?.utf8.count else {
                throw HTTPRefusal(.malformed, "request target '\(target.prefix(200))' is not a path starting with /")
            }
            let afterAuthority = target.utf8.dropFirst(schemeEnd).firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
            target = afterAuthority.map { String(target[$0...]) } ?? "/"
            if target.hasPrefix("?") { target = "/" + target }
        }
        return HTTPServer.splitURI(target)
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>) -> Int? {
        var size = 0
        var index = line.startIndex
        while index < line.endIndex, let digit = hexValue(line[index]) {
            let (shifted, overflow) = size.multipliedReportingOverflow(by: 16)
            guard !overflow else { return nil }
            size = shifted + digit
            index += 1
        }
        guard index > line.startIndex else { return nil }
        let rest = line[index...]
        // Chunk extensions (after optional whitespace and ';') carry nothing we use.
        guard rest.allSatisfy(isFieldValueByte),
            rest.first(where: { $0 != space && $0 != tab }).map({ $0 == UInt8(ascii: ";") }) ?? true
        else { return nil }
        return size
    }

    private func parseDecimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy(isDigit) else { return nil }
        var value = 0
        for digit in text.utf8 {
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            let (sum, overflowAdding) = shifted.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            guard !overflowAdding else { return nil }
            value = sum
        }
        return value
    }

    private func split(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = bytes.startIndex
        var index = bytes.startIndex
        while index + 1 < bytes.endIndex {
            if bytes[index] == cr && bytes[index + 1] == lf {
                lines.append(bytes[lineStart..<index])
                index += 2
                lineStart = index
            } else {
                index += 1
            }
        }
        lines.append(bytes[lineStart..<bytes.endIndex])
        return lines
    }

    /// `content-length` and `CONTENT-LENGTH` both become `Content-Length`, the spelling handlers use.
    private func canonicalName(_ bytes: ArraySlice<UInt8>) -> String {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var upper = true
        for byte in bytes {
            let isLetter = (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
            result.append(isLetter ? (upper ? byte & ~0x20 : byte | 0x20) : byte)
            upper = byte == UInt8(ascii: "-")
        }
        return String(decoding: result, as: UTF8.self)
    }
}

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let colonByte = UInt8(ascii: ":")

private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

private func hexValue(_ byte: UInt8) -> Int? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
    default: nil
    }
}

/// RFC 9110 `tchar`: the bytes of methods and header names.
private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
        UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
        UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
        true
    default: false
    }
}

/// Visible ASCII, space, tab and non-ASCII bytes (RFC 9110 `field-vchar` and `obs-text`).
private func isFieldValueByte(_ byte: UInt8) -> Bool {
    byte == tab || (byte >= space && byte != 0x7F)
}

extension StringProtocol {
    /// Drops the spaces and tabs HTTP allows around values and list elements.
    fileprivate func trimmingOptionalWhitespace() -> String {
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { $0 != space && $0 != tab }),
            let last = bytes.lastIndex(where: { $0 != space && $0 != tab })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}

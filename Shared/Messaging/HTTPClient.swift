internal import CNNG

/// What a webhook receiver answered: its status code (the body is not needed and not kept).
public struct HTTPClientAnswer: Sendable, Equatable {
    public var status: Int
}

/// Reads an HTTP/1.1 answer as it arrives: `feed` bytes until it says the answer is complete.
/// Pure, so hostile or truncated answers are tested without sockets. Only the status line and
/// `Content-Length` matter; the body is counted, not stored. An answer without `Content-Length`
/// ends when the server closes (the request asked for `Connection: close`).
public struct HTTPAnswerReader: Sendable {
    public enum Progress: Sendable, Equatable {
        case needMore
        case complete(HTTPClientAnswer)
        case malformed(String)
    }

    /// The most header bytes accepted before the answer is refused as malformed.
    public static let maxHeadBytes = 16 * 1024

    private var head: [UInt8] = []
    private var status: Int?
    private var bodyRemaining: Int?
    private var failure: String?

    public init() {}

    public mutating func feed(_ bytes: some Collection<UInt8>) -> Progress {
        if let failure { return .malformed(failure) }
        var rest = ArraySlice(bytes)
        if status == nil {
            let previous = head.count
            head.append(contentsOf: rest)
            guard let end = Self.endOfHead(head, searchingFrom: max(0, previous - 3)) else {
                if head.count > Self.maxHeadBytes { return fail("the answer's head is over \(Self.maxHeadBytes) bytes") }
                return .needMore
            }
            let extra = head.count - end
            switch Self.parseHead(head[..<end]) {
            case .success(let parsed):
                status = parsed.status
                bodyRemaining = parsed.contentLength
            case .failure(let reason):
                return fail(reason.message)
            }
            head = []
            rest = rest.suffix(extra)
        }
        guard let status else { return .needMore }
        guard let remaining = bodyRemaining else { return .needMore }
        bodyRemaining = remaining - min(remaining, rest.count)
        return bodyRemaining == 0 ? .complete(HTTPClientAnswer(status: status)) : .needMore
    }

    /// The server closed the connection: complete if the answer's head arrived and it had no
    /// `Content-Length` (or all of it came), malformed otherwise.
    public mutating func closed() -> Progress {
        if let failure { return .malformed(failure) }
        guard let status else { return fail("the connection closed before an answer arrived") }
        if let remaining = bodyRemaining, remaining > 0 { return fail("the connection closed \(remaining) bytes before the body's end") }
        return .complete(HTTPClientAnswer(status: status))
    }

    private mutating func fail(_ reason: String) -> Progress {
        failure = reason
        return .malformed(reason)
    }

    struct Reason: Error { var message: String }

    private static func endOfHead(_ bytes: [UInt8], searchingFrom start: Int) -> Int? {
        var index = start
        while index + 3 < bytes.count {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 { return index + 4 }
            index += 1
        }
        return nil
    }

    private static func parseHead(_ head: ArraySlice<UInt8>) -> Result<(status: Int, contentLength: Int?), Reason> {
        let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: true)
        guard let statusLine = lines.first else { return .failure(Reason(message: "an empty answer head")) }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].utf8.count == 3, let status = Int(parts[1]), (100...599).contains(status)
        else {
            return .failure(Reason(message: "'\(statusLine.prefix(80))' is not an HTTP/1.x status line"))
        }
        var contentLength: Int?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return .failure(Reason(message: "a header line without a colon")) }
            guard line[..<colon].lowercased() == "content-length" else { continue }
            let value = line[line.index(after: colon)...].trimmingSpaces
            guard !value.isEmpty, value.utf8.count <= 12, value.utf8.allSatisfy({ (48...57).contains($0) }), let length = Int(value) else {
                return .failure(Reason(message: "Content-Length '\(value.prefix(20))' is not a number"))
            }
            guard contentLength == nil || contentLength == length else { return .failure(Reason(message: "two different Content-Length headers")) }
            contentLength = length
        }
        // 1xx, 204 and 304 answers have no body whatever their headers say.
        if status < 200 || status == 204 || status == 304 { contentLength = 0 }
        return .success((status, contentLength))
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}

/// One HTTP/1.1 POST per connection over nng's tcp byte streams (the client side of what
/// `HTTPServer` does): dial, write the request with `Connection: close`, read the answer, close.
/// No keep-alive and no redirects: a webhook call is small, and a receiver that moved answers 3xx,
/// which counts as a failure the operator sees.
public enum HTTPClient {
    /// POSTs `body` with `headers` (besides Host, Content-Length and Connection, which this sets)
    /// and returns the status, all within `timeoutMilliseconds`. Header names and values must not
    /// contain line breaks; the caller builds them.
    public static func post(
        to target: HTTPURL, headers: [(String, String)], body: [UInt8], timeoutMilliseconds: Int
    ) async throws(MessagingError) -> HTTPClientAnswer {
        let operation = "POST http://\(target.authority)\(target.requestTarget)"
        for (name, value) in headers where (name + value).contains(where: \.isNewline) {
            throw MessagingError(code: .other, operation: operation, text: "header \(name) contains a line break")
        }
        var head = "POST \(target.requestTarget) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        let exchange = try Exchange(address: "tcp://" + target.authority, operation: operation)
        try await exchange.dial(deadline: deadline)
        try await exchange.send(request, deadline: deadline)
        return try await exchange.readAnswer(deadline: deadline)
    }
}

/// One dialer, one stream, one aio; used by one task, one operation at a time, freed on deinit.
private final class Exchange {
    private let dialer: OpaquePointer
    private var stream: OpaquePointer?
    private let aio: AsyncAIO
    private let operation: String

    init(address: String, operation: String) throws(MessagingError) {
        var dialer: OpaquePointer?
        try nngCheck(nng_stream_dialer_alloc(&dialer, address), "\(operation): dial \(address)")
        guard let dialer else { throw MessagingError(code: .other, operation: operation, text: "no dialer") }
        do {
            aio = try AsyncAIO()
        } catch {
            nng_stream_dialer_free(dialer)
            throw error
        }
        self.dialer = dialer
        self.operation = operation
    }

    deinit {
        if let stream {
            nng_stream_close(stream)
            nng_stream_free(stream)
        }
        nng_stream_dialer_free(dialer)
    }

    private func remaining(_ deadline: ContinuousClock.Instant) throws(MessagingError) -> Int32 {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { throw MessagingError(code: .timedOut, operation: operation, text: "timed out") }
        let (seconds, attoseconds) = left.components
        return Int32(clamping: max(min(seconds, 1_000_000) * 1000 + attoseconds / 1_000_000_000_000_000, 1))
    }

    func dial(deadline: ContinuousClock.Instant) async throws(MessagingError) {
        let timeout = try remaining(deadline)
        let result = await aio.run { aio in
            nng_aio_set_timeout(aio, timeout)
            nng_stream_dialer_dial(dialer, aio)
            return true
        }
        try nngCheck(result, "\(operation): connect")
        guard let opened = nng_aio_get_output(aio.handle, 0) else {
            throw MessagingError(code: .other, operation: operation, text: "connected without a stream")
        }
        stream = OpaquePointer(opened)
    }

    func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) async throws(MessagingError) {
        guard let stream else { return }
        let outgoing = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        defer { outgoing.deallocate() }
        outgoing.copyBytes(from: bytes)
        var offset = 0
        while offset < bytes.count {
            let timeout = try remaining(deadline)
            let result = await aio.run { aio in
                var iov = nng_iov(iov_buf: outgoing.baseAddress! + offset, iov_len: bytes.count - offset)
                guard nng_aio_set_iov(aio, 1, &iov) == 0 else { return false }
                nng_aio_set_timeout(aio, timeout)
                nng_stream_send(stream, aio)
                return true
            }
            try nngCheck(result, "\(operation): send")
            let count = nng_aio_count(aio.handle)
            guard count > 0 else { throw MessagingError(code: .closed, operation: operation, text: "the connection took no bytes") }
            offset += count
        }
    }

    func readAnswer(deadline: ContinuousClock.Instant) async throws(MessagingError) -> HTTPClientAnswer {
        guard let stream else { throw MessagingError(code: .closed, operation: operation, text: "not connected") }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        var reader = HTTPAnswerReader()
        while true {
            let timeout = try remaining(deadline)
            let result = await aio.run { aio in
                var iov = nng_iov(iov_buf: buffer.baseAddress, iov_len: buffer.count)
                guard nng_aio_set_iov(aio, 1, &iov) == 0 else { return false }
                nng_aio_set_timeout(aio, timeout)
                nng_stream_recv(stream, aio)
                return true
            }
            let count = nng_aio_count(aio.handle)
            let progress: HTTPAnswerReader.Progress
            if result == 0, count > 0 {
                progress = reader.feed(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            } else if result == 0 || result == Int32(NNG_ECLOSED.rawValue) || result == Int32(NNG_ECONNSHUT.rawValue)
                || result == Int32(NNG_ECONNRESET.rawValue)
            {
                progress = reader.closed()
            } else {
                throw nngError(result, "\(operation): receive")
            }
            switch progress {
            case .needMore: continue
            case .complete(let answer): return answer
            case .malformed(let reason): throw MessagingError(code: .other, operation: operation, text: "malformed answer: \(reason)")
            }
        }
    }
}

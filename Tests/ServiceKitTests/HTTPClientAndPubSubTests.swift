import Foundation
import Synchronization
import TestSupport
import Testing
import Wire

@testable import Messaging

/// The answer reader byte by byte, then the client against our own HTTP server, then PUB to SUB.
@Suite struct HTTPAnswerReaderTests {
    static func progress(_ text: String, piece: Int = .max, close: Bool = false) -> HTTPAnswerReader.Progress {
        var reader = HTTPAnswerReader()
        let bytes = Array(text.utf8)
        var offset = 0
        var last = HTTPAnswerReader.Progress.needMore
        while offset < bytes.count {
            let end = min(bytes.count, offset + min(piece, bytes.count))
            last = reader.feed(bytes[offset..<end])
            offset = end
            if last != .needMore { return last }
        }
        return close ? reader.closed() : last
    }

    @Test func readsTheStatusWholeOrByteByByte() {
        let answer = "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"
        #expect(Self.progress(answer) == .complete(HTTPClientAnswer(status: 204)))
        #expect(Self.progress(answer, piece: 1) == .complete(HTTPClientAnswer(status: 204)))
        let withBody = "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\n\r\nerror"
        #expect(Self.progress(withBody, piece: 3) == .complete(HTTPClientAnswer(status: 500)))
        #expect(Self.progress("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nerr") == .needMore)
    }

    @Test func anAnswerWithoutLengthEndsWhenTheServerCloses() {
        #expect(Self.progress("HTTP/1.0 200 OK\r\n\r\nwhatever", close: true) == .complete(HTTPClientAnswer(status: 200)))
        #expect(Self.progress("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", close: true) != .complete(HTTPClientAnswer(status: 200)))
        #expect(Self.progress("HTTP/1.1 20", close: true) != .complete(HTTPClientAnswer(status: 200)))
    }

    @Test func refusesMalformedAnswers() {
        for text in [
            "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 099 x\r\n\r\n", "SMTP 220 hello\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        ] {
            guard case .malformed = Self.progress(text) else {
                Issue.record("\(text.debugDescription) was accepted")
                continue
            }
        }
        var reader = HTTPAnswerReader()
        let endless = [UInt8](repeating: 0x61, count: HTTPAnswerReader.maxHeadBytes + 1)
        guard case .malformed = reader.feed(endless) else {
            Issue.record("an endless head was buffered")
            return
        }
    }
}

@Suite struct HTTPClientTests {
    final class Seen: Sendable {
        let requests = Mutex<[HTTPRequest]>([])
    }

    @Test func postsToOurServerAndReadsEachStatus() async throws {
        let seen = Seen()
        let server = try HTTPServer(url: "http://127.0.0.1:0")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await server.run { request in
                    seen.requests.withLock { $0.append(request) }
                    return HTTPResponse(status: request.path == "/fail" ? 500 : 204, body: [])
                }
            }
            let ok = try HTTPURL(parsing: server.url + "/hooks?x=1")
            #expect(ok.requestTarget == "/hooks?x=1")
            let body = Array(#"{"eventId":"e"}"#.utf8)
            let answer = try await HTTPClient.post(
                to: ok, headers: [("X-Coupon-Event-Id", "e")], body: body, timeoutMilliseconds: Patience.callMilliseconds)
            #expect(answer.status == 204)
            let failing = try await HTTPClient.post(
                to: try HTTPURL(parsing: server.url + "/fail"), headers: [], body: body, timeoutMilliseconds: Patience.callMilliseconds)
            #expect(failing.status == 500)
            await #expect(throws: MessagingError.self) {
                _ = try await HTTPClient.post(to: ok, headers: [("X-Bad", "a\r\nInjected: 1")], body: body, timeoutMilliseconds: 1_000)
            }
            await server.shutdown()
            try await group.waitForAll()
            let requests = seen.requests.withLock { $0 }
            #expect(requests.count == 2)
            #expect(requests.first?.method == "POST")
            #expect(requests.first?.path == "/hooks")
            #expect(requests.first?.body == body)
            #expect(requests.first?.headers["X-Coupon-Event-Id"] == "e")
        }
    }

    @Test func aReceiverThatIsDownIsAnError() async throws {
        let target = try HTTPURL(parsing: "http://127.0.0.1:\(try freeLocalPort())/")
        await #expect(throws: MessagingError.self) {
            _ = try await HTTPClient.post(to: target, headers: [], body: [], timeoutMilliseconds: Patience.callMilliseconds)
        }
        #expect(throws: MessagingError.self) { _ = try HTTPURL(parsing: "https://127.0.0.1/") }
        #expect(throws: MessagingError.self) { _ = try HTTPURL(parsing: "not a url") }
    }
}

@Suite struct PubSubTests {
    @Test func aSubscriberReceivesWhatItSubscribedTo() async throws {
        let publisher = try Publisher(url: "tcp://127.0.0.1:0")
        defer { publisher.close() }
        let subscriber = try Subscriber(urls: [publisher.url], prefixes: ["coupon."])
        defer { subscriber.close() }
        // PUB drops what no subscriber is connected for: publish until the first arrives.
        var received: [UInt8]?
        try await Patience.waitUntil("the subscriber receiving") {
            try publisher.publish(Array("alert.raised {}".utf8))
            try publisher.publish(Array("coupon.used {\"n\":1}".utf8))
            received = try await subscriber.receive(timeoutMilliseconds: 100)
            return received != nil
        }
        #expect(received == Array("coupon.used {\"n\":1}".utf8), "only the subscribed prefix arrives")
    }
}

import Foundation
import Synchronization
import TestSupport
import Testing
import Wire

@testable import Messaging
@testable import ServiceKit

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A rep server on a free loopback port, serving `handler` until the test ends.
func withServer(
    concurrency: Int = 8, maxFrameBytes: Int = 1 << 20, _ handler: @escaping ReplyServer.Handler,
    _ body: (ReplyServer, String) async throws -> Void
) async throws {
    let server = try ReplyServer(configuration: .init(urls: ["tcp://127.0.0.1:0"], maxFrameBytes: maxFrameBytes, concurrency: concurrency))
    let url = server.boundURLs[0]
    #expect(!url.hasSuffix(":0"))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await server.run(handler) }
        defer { server.shutdown() }
        try await body(server, url)
    }
}

@Suite struct MessagingTests {
    @Test func manyConcurrentCallsEachGetTheirOwnReply() async throws {
        try await withServer({ request in
            try? await Task.sleep(for: .milliseconds(Int.random(in: 0...5)))
            return request.reversed()
        }) { _, url in
            // 300 calls queue behind 8 handlers: on a loaded machine the last wait long, so the
            // deadline is generous (30 s was not, for two fresh clones beside a fuzz campaign);
            // what is checked is that every caller gets its own reply.
            let client = try RequestClient(urls: [url], timeoutMilliseconds: Patience.milliseconds(120_000))
            defer { client.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<300 {
                    group.addTask {
                        let request = Array("request-\(index)".utf8)
                        let reply = try await client.call(request)
                        #expect(reply == request.reversed())
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// The deadline fires and the call returns with `.timedOut`; how soon it returns depends on
    /// the machine's load, so it is not asserted (returning at all is what a hang would fail).
    @Test func callTimesOutWhenNoReplyComes() async throws {
        try await withServer({ _ in nil }) { _, url in
            let client = try RequestClient(urls: [url])
            defer { client.close() }
            let error = await #expect(throws: MessagingError.self) { try await client.call([1], timeoutMilliseconds: 200) }
            #expect(error?.code == .timedOut)
            // The client still works after a timed-out call: the next one times out the same way.
            let again = await #expect(throws: MessagingError.self) { try await client.call([2], timeoutMilliseconds: 200) }
            #expect(again?.code == .timedOut)
        }
    }

    @Test func oversizedMessageIsDroppedAndTheServerKeepsServing() async throws {
        try await withServer(maxFrameBytes: 4096, { $0 }) { _, url in
            let client = try RequestClient(urls: [url])
            defer { client.close() }
            let big = [UInt8](repeating: 1, count: 100_000)
            await #expect(throws: MessagingError.self) { try await client.call(big, timeoutMilliseconds: 300) }
            // nng drops the pipe that sent it; the client reconnects and a later call is served.
            try await Patience.waitUntil("a call served after the oversized one") {
                (try? await client.call([7, 7], timeoutMilliseconds: Patience.milliseconds(1_000))) == [7, 7]
            }
        }
    }

    @Test func shutdownLetsInFlightRequestsFinish() async throws {
        let server = try ReplyServer(configuration: .init(urls: ["tcp://127.0.0.1:0"], concurrency: 4))
        let client = try RequestClient(urls: server.boundURLs)
        defer { client.close() }
        let started = Flag()
        try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                await server.run { request in
                    started.set()
                    try? await Task.sleep(for: .milliseconds(300))
                    return request + [42]
                }
                return nil
            }
            group.addTask { try await client.call([1], timeoutMilliseconds: Patience.callMilliseconds) }
            // Shut down only once the request is being handled: that is what "in flight" means.
            // Shut down too if it never gets there, or the group would wait for the server forever.
            do {
                try await Patience.waitUntil("the request reaching its handler", every: .milliseconds(5)) { started.isSet }
            } catch {
                server.shutdown()
                throw error
            }
            server.shutdown()
            var replies: [[UInt8]] = []
            for try await result in group {
                if let result { replies.append(result) }
            }
            #expect(replies == [[1, 42]])
        }
        // The socket is closed now: a new call cannot be served.
        await #expect(throws: MessagingError.self) { try await client.call([2], timeoutMilliseconds: 200) }
    }

    @Test func clientDialsSeveralReplicas() async throws {
        try await withServer({ _ in [1] }) { _, first in
            try await withServer({ _ in [2] }) { _, second in
                let client = try RequestClient(urls: [first, second], timeoutMilliseconds: Patience.callMilliseconds)
                defer { client.close() }
                var seen = Set<UInt8>()
                for _ in 0..<200 {
                    let reply = try await client.call([0])
                    seen.formUnion(reply)
                    if seen.count == 2 { break }
                }
                #expect(seen == [1, 2])
            }
        }
    }
}

/// A flag one task raises and another watches.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

@Suite struct RPCRouterTests {
    struct EchoRequest: WireRequest, Equatable {
        typealias Response = EchoRequest
        static let kind = MessageKind(rawValue: 0x7F01)
        var text: String
    }

    func makeRouter() -> RPCRouter {
        var router = RPCRouter(service: "test", metrics: Metrics(), logger: Logger(service: "test", sink: LogSink(capturing: true)))
        router.register(EchoRequest.self) { request, _ in
            if request.text == "refuse" { throw ServiceError(.soldOut, "none left") }
            if request.text == "crash" { throw CancellationError() }
            return request
        }
        router.registerStandardHandlers(instance: "i", startedAt: .now) { [] }
        return router
    }

    func errorCode(_ reply: [UInt8]) -> ErrorCode? {
        guard let frame = try? FrameCodec.decode(reply), frame.isError,
            let error = try? WireBody.decode(ServiceError.self, from: frame.body)
        else { return nil }
        return error.code
    }

    @Test func answersTypedRequests() async throws {
        let router = makeRouter()
        let reply = await router.handle(try Envelope.request(EchoRequest(text: "满200减30"), requestId: 5))
        #expect(try Envelope.decodeReply(reply, for: EchoRequest.self, requestId: 5) == EchoRequest(text: "满200减30"))
        let pong = await router.handle(try Envelope.request(PingRequest(), requestId: 6))
        #expect(try Envelope.decodeReply(pong, for: PingRequest.self, requestId: 6).service == "test")
    }

    @Test func everyKindOfBadInputGetsItsOwnErrorCode() async throws {
        let router = makeRouter()
        #expect(errorCode(await router.handle([])) == .badFrame)
        #expect(errorCode(await router.handle(Array("GET / HTTP/1.1\r\n\r\n".utf8))) == .badFrame)
        var wrongVersion = try Envelope.request(PingRequest(), requestId: 1)
        wrongVersion[2] = 9
        #expect(errorCode(await router.handle(wrongVersion)) == .unsupportedVersion)
        let unknown = FrameCodec.encode(Frame(header: FrameHeader(kind: MessageKind(rawValue: 0x7777), requestId: 1), body: []))
        #expect(errorCode(await router.handle(unknown)) == .unknownMessageKind)
        let badBody = FrameCodec.encode(Frame(header: FrameHeader(kind: EchoRequest.kind, requestId: 1), body: [0xFF]))
        #expect(errorCode(await router.handle(badBody)) == .malformedBody)
        let replyAsRequest = Envelope.reply(to: FrameHeader(kind: .ping, requestId: 1), body: [])
        #expect(errorCode(await router.handle(replyAsRequest)) == .badFrame)
        let late = try Envelope.request(PingRequest(), requestId: 1, deadlineMilliseconds: 1)
        #expect(errorCode(await router.handle(late)) == .deadlineExceeded)
        #expect(errorCode(await router.handle(try Envelope.request(EchoRequest(text: "refuse"), requestId: 1))) == .soldOut)
        #expect(errorCode(await router.handle(try Envelope.request(EchoRequest(text: "crash"), requestId: 1))) == .internalError)
    }

    @Test func errorRepliesKeepTheCallersRequestId() async throws {
        let router = makeRouter()
        let badBody = FrameCodec.encode(Frame(header: FrameHeader(kind: EchoRequest.kind, requestId: 99), body: [0xFF]))
        let frame = try FrameCodec.decode(await router.handle(badBody))
        #expect(frame.header.requestId == 99)
        #expect(frame.isReply && frame.isError)
    }

    @Test func countsCallsPerKindAndCode() async throws {
        let router = makeRouter()
        _ = await router.handle(try Envelope.request(EchoRequest(text: "a"), requestId: 1))
        _ = await router.handle(try Envelope.request(EchoRequest(text: "refuse"), requestId: 2))
        let name = EchoRequest.kind.name
        #expect(router.metrics.counter("calls_total", [("call", name), ("code", "OK")]) == 1)
        #expect(router.metrics.counter("call_errors_total", [("call", name), ("code", "SOLD_OUT")]) == 1)
    }
}

@Suite struct HTTPServerTests {
    @Test func servesRequestsThroughSwiftConcurrency() async throws {
        let port = try freeLocalPort()
        let server = try HTTPServer(url: "http://127.0.0.1:\(port)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await server.run { request in
                    let text = "\(request.method) \(request.path) ?\(request.query) \(request.body.count)"
                    return HTTPResponse(status: request.path == "/missing" ? 404 : 200, contentType: "text/plain", body: Array(text.utf8))
                }
            }
            let (body, status) = try await httpRequest("POST", "http://127.0.0.1:\(port)/api/x?userId=7", body: Array("{\"a\":1}".utf8))
            #expect(status == 200)
            #expect(String(decoding: body, as: UTF8.self) == "POST /api/x ?userId=7 7")
            let (_, missing) = try await httpRequest("GET", "http://127.0.0.1:\(port)/missing")
            #expect(missing == 404)
            await server.shutdown()
            try await group.waitForAll()
        }
    }
}

func httpRequest(_ method: String, _ url: String, body: [UInt8] = []) async throws -> ([UInt8], Int) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    if !body.isEmpty { request.httpBody = Data(body) }
    let (data, response) = try await URLSession.shared.data(for: request)
    return (Array(data), (response as? HTTPURLResponse)?.statusCode ?? 0)
}

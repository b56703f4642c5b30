import Messaging
import Testing
import Wire

@testable import CouponClient
@testable import ServiceKit

/// The typed client's own arithmetic and limits: a caller's timeout becomes a header deadline
/// without overflow, and a reply is read with the frame limit the client was given (not the
/// default), so a service configured for larger frames can answer with them.
@Suite struct ServiceClientTests {
    @Test func deadlineIsNowPlusTheTimeout() {
        #expect(ServiceClient.deadline(afterMilliseconds: 2_000, now: 1_764_000_000_000) == 1_764_000_002_000)
        // A timeout of 0 or less still gives a deadline after now: a call is never sent already late.
        #expect(ServiceClient.deadline(afterMilliseconds: 0, now: 10) == 11)
        #expect(ServiceClient.deadline(afterMilliseconds: -5, now: 10) == 11)
    }

    @Test func aTimeoutPastTheSignedRangeIsClampedNotTrapped() {
        #expect(ServiceClient.deadline(afterMilliseconds: Int.max, now: 1_764_000_000_000) == UInt64(Int64.max))
        #expect(ServiceClient.deadline(afterMilliseconds: Int.max, now: Int64.max) == UInt64(Int64.max))
        // A clock before 1970 (a broken host) is read as 0 rather than giving a negative deadline.
        #expect(ServiceClient.deadline(afterMilliseconds: 5, now: -1_000) == 5)
    }

    struct BigReplyRequest: WireRequest, Equatable {
        typealias Response = BigReply
        static let kind = MessageKind(rawValue: 0x7F20)
        var size: Int32
    }

    struct BigReply: Codable, Sendable, Equatable {
        var payload: [UInt8]
    }

    @Test func aReplyLargerThanTheDefaultLimitIsReadWithTheClientsOwnLimit() async throws {
        let limit = 4 << 20
        var router = RPCRouter(
            service: "big", metrics: Metrics(), logger: Logger(service: "big", sink: LogSink(capturing: true)), maxFrameBytes: limit)
        router.register(BigReplyRequest.self) { request, _ in BigReply(payload: [UInt8](repeating: 0xA5, count: Int(max(request.size, 0)))) }
        let listener = try RPCListener(urls: ["tcp://127.0.0.1:0"], router: router, concurrency: 2)
        let client = try ServiceClient(service: "big", urls: listener.boundURLs, timeoutMilliseconds: 60_000, maxFrameBytes: limit)
        defer { client.close() }
        let size = 2 << 20
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            let reply: BigReply
            do {
                reply = try await client.call(BigReplyRequest(size: Int32(size)))
            } catch {
                await listener.shutdown()
                throw error
            }
            await listener.shutdown()
            try await group.waitForAll()
            #expect(reply.payload.count == size)
            #expect(size > FrameHeader.defaultMaxFrameBytes)
        }
    }
}

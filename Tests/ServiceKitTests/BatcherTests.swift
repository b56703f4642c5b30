import Synchronization
import Testing
import Wire

@testable import ServiceKit

/// Lets a test hold a batch in flight until it says so, and records every batch seen.
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>], batches: [[Int]])>((false, [], []))

    func record(_ batch: [Int]) { state.withLock { $0.batches.append(batch) } }
    var batches: [[Int]] { state.withLock { $0.batches } }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Polls until `condition` holds: for states another task reaches. The limit (a minute) is only
/// there so a broken batcher fails the test instead of hanging it; the assertions that follow say
/// what was expected.
private func eventually(_ condition: () -> Bool) async throws {
    for _ in 0..<6_000 where !condition() {
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Runs `batcher` as its process would (its `run()` beside the body), then shuts it down and
/// waits for `run()` to return.
private func running(_ batchers: [any LifecycleService], _ body: () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for batcher in batchers { group.addTask { try await batcher.run() } }
        do {
            try await body()
        } catch {
            for batcher in batchers { await batcher.shutdown() }
            throw error
        }
        for batcher in batchers { await batcher.shutdown() }
        try await group.waitForAll()
    }
}

@Suite struct BatcherTests {
    @Test func aLoneItemIsProcessedAtOnceInABatchOfItsOwn() async throws {
        let gate = Gate()
        let batcher = Batcher<Int, Int>(name: "t", lanes: 1, maxBatch: 10) { items in
            gate.record(items)
            return items.map { .success($0 * 2) }
        }
        try await running([batcher]) { () async throws in
            #expect(try await batcher.submit(21) == 42)
            #expect(try await batcher.submit(5) == 10)
        }
        #expect(gate.batches == [[21], [5]])
    }

    @Test func itemsArrivingWhileEveryLaneIsBusyShareTheNextBatch() async throws {
        let gate = Gate()
        let batcher = Batcher<Int, Int>(name: "t", lanes: 1, maxBatch: 4) { items in
            gate.record(items)
            await gate.wait()
            return items.map { .success($0 + 100) }
        }
        try await running([batcher]) { () async throws in
            try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                group.addTask { (0, try await batcher.submit(0)) }
                try await eventually { gate.batches.count == 1 }
                for item in 1...9 {
                    group.addTask { (item, try await batcher.submit(item)) }
                }
                // Item 0 is in flight; the nine others queue behind it.
                try await eventually { batcher.waitingCount == 9 }
                #expect(gate.batches.count == 1)
                gate.open()
                var answers: [Int: Int] = [:]
                for try await (item, answer) in group { answers[item] = answer }
                #expect(answers == Dictionary(uniqueKeysWithValues: (0...9).map { ($0, $0 + 100) }))
            }
        }
        let batches = gate.batches
        #expect(batches.first == [0])
        #expect(batches.count == 4, "nine waiting items in batches of at most 4: \(batches)")
        #expect(batches.dropFirst().allSatisfy { $0.count <= 4 })
        #expect(batches.flatMap { $0 }.sorted() == Array(0...9))
    }

    @Test func eachItemGetsItsOwnResultAndMissingAnswersFail() async throws {
        let batcher = Batcher<Int, Int>(name: "t", lanes: 1, maxBatch: 10) { items in
            // Odd items fail; the last item of a batch of three gets no answer at all.
            let answers: [Result<Int, any Error>] = items.map { item in
                item % 2 == 1 ? .failure(ServiceError(.invalidArgument, "odd \(item)")) : .success(item)
            }
            return items.count == 3 ? Array(answers.prefix(2)) : answers
        }
        let gate = Gate()
        let held = Batcher<Int, Int>(name: "held", lanes: 1, maxBatch: 3) { items in
            gate.record(items)
            if items.count < 3 { await gate.wait() }
            return Array(items.prefix(2).map { .success($0) })
        }
        try await running([batcher, held]) { () async throws in
            #expect(try await batcher.submit(4) == 4)
            await #expect(throws: ServiceError(.invalidArgument, "odd 3")) { try await batcher.submit(3) }

            try await withThrowingTaskGroup(of: Result<Int, ServiceError>.self) { group in
                group.addTask { .success(try await held.submit(0)) }
                try await eventually { gate.batches.count == 1 }
                for item in [10, 11, 12] {
                    group.addTask {
                        do { return .success(try await held.submit(item)) } catch let error as ServiceError { return .failure(error) }
                    }
                }
                try await eventually { held.waitingCount == 3 }
                gate.open()
                var failures: [ServiceError] = []
                for try await result in group {
                    if case .failure(let error) = result { failures.append(error) }
                }
                #expect(failures.count == 1)
                #expect(failures.first?.code == .internalError)
            }
        }
    }

    @Test func closeRefusesNewItemsButFinishesWhatItHolds() async throws {
        let gate = Gate()
        let batcher = Batcher<Int, Int>(name: "t", lanes: 2, maxBatch: 8) { items in
            gate.record(items)
            await gate.wait()
            return items.map { .success($0) }
        }
        try await running([batcher]) { () async throws in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for item in 0..<5 {
                    group.addTask { try await batcher.submit(item) }
                }
                // Every item is in a batch held in flight (how many batches depends on how the lanes
                // were scheduled).
                try await eventually { gate.batches.flatMap { $0 }.count == 5 }
                batcher.close()
                await #expect(throws: ServiceError.self) { try await batcher.submit(99) }
                let drained = Gate()
                let drain = Task {
                    await batcher.drain()
                    drained.record([1])
                }
                try await Task.sleep(for: .milliseconds(50))
                #expect(drained.batches.isEmpty, "drain returned while batches were in flight")
                gate.open()
                await drain.value
                #expect(drained.batches == [[1]])
                var answers: [Int] = []
                for try await answer in group { answers.append(answer) }
                #expect(answers.sorted() == [0, 1, 2, 3, 4])
            }
        }
        #expect(!gate.batches.flatMap { $0 }.contains(99))
    }

    @Test func itemsHandedInBeforeRunWaitForItAndPostedItemsAreProcessed() async throws {
        let gate = Gate()
        let batcher = Batcher<Int, Int>(name: "t", lanes: 1, maxBatch: 8) { items in
            gate.record(items)
            return items.map { .success($0) }
        }
        #expect(batcher.post(7))
        let early = Task { try await batcher.submit(8) }
        try await eventually { batcher.waitingCount == 2 }
        #expect(gate.batches.isEmpty, "processed before run() started")
        try await running([batcher]) { () async throws in
            #expect(try await early.value == 8)
            try await eventually { gate.batches.flatMap { $0 }.sorted() == [7, 8] }
        }
        #expect(gate.batches.flatMap { $0 }.sorted() == [7, 8])
        // After shutdown, run() has returned and new items are refused.
        #expect(!batcher.post(9))
        await #expect(throws: ServiceError.self) { try await batcher.submit(10) }
    }
}

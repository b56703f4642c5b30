import Synchronization
import Wire

/// Gathers concurrent calls into batches: the group commit of a whole pipeline stage.
///
/// A caller hands in one item and waits for its own answer. While fewer than `lanes` batches are
/// in flight, the items waiting are taken at once (up to `maxBatch`) and processed together; an
/// item that arrives while every lane is busy waits for the next batch. An idle system therefore
/// answers a lone call without delay, and a busy one pays a stage's fixed cost (a round trip, a
/// transaction, an fsync) once per batch instead of once per item.
///
/// `process` answers every item of a batch, in order, with a result of its own; answering with
/// fewer results fails the items left over. After `close()` new items are refused with
/// `shuttingDown`; batches already in flight and items already waiting are still processed.
///
/// A batcher is a service of its process: its lanes are child tasks of `run()`, which the
/// process's `ServiceGroup` runs with the others, and `shutdown()` lets `run()` return once what
/// it holds is processed. Items handed in before `run()` starts wait for it.
public final class Batcher<Item: Sendable, Output: Sendable>: LifecycleService {
    public typealias Process = @Sendable ([Item]) async -> [Result<Output, any Error>]

    private struct Waiting {
        var item: Item
        /// Nil for an item handed in with `post`, whose answer nobody waits for.
        var continuation: CheckedContinuation<Output, any Error>?
    }

    private struct State {
        var waiting: [Waiting] = []
        var running = 0
        var closed = false
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    public let name: String
    private let lanes: Int
    private let maxBatch: Int
    private let process: Process
    private let metrics: Metrics?
    private let state = Mutex(State())
    /// One element per lane to start; `run()` starts each as its child.
    private let laneStarts: AsyncStream<Void>
    private let laneStarter: AsyncStream<Void>.Continuation

    /// `name` labels the `batch_size` and `batch_duration_seconds` histograms in `metrics`.
    public init(name: String, lanes: Int, maxBatch: Int, metrics: Metrics? = nil, process: @escaping Process) {
        precondition(lanes > 0 && maxBatch > 0, "a batcher needs at least one lane and one item per batch")
        self.name = name
        self.lanes = lanes
        self.maxBatch = maxBatch
        self.process = process
        self.metrics = metrics
        (laneStarts, laneStarter) = AsyncStream.makeStream(of: Void.self)
        metrics?.describe("batch_size", type: "histogram", help: "Items per batch of each batched stage (bucket bounds read as counts)")
        metrics?.describe("batch_duration_seconds", type: "histogram", help: "Time to process one batch, per batched stage")
    }

    /// Queues one item and waits for its answer.
    public func submit(_ item: Item) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            if !enqueue(Waiting(item: item, continuation: continuation)) {
                continuation.resume(throwing: ServiceError(.shuttingDown, "\(name): shutting down"))
            }
        }
    }

    /// Queues one item whose answer nobody waits for (a release after the reply has gone): it is
    /// processed with the others and its result dropped. False when the batcher is closed.
    @discardableResult
    public func post(_ item: Item) -> Bool {
        enqueue(Waiting(item: item, continuation: nil))
    }

    private func enqueue(_ waiting: Waiting) -> Bool {
        let (accepted, startLane): (Bool, Bool) = state.withLock { state in
            guard !state.closed else { return (false, false) }
            state.waiting.append(waiting)
            guard state.running < lanes else { return (true, false) }
            state.running += 1
            return (true, true)
        }
        if startLane { laneStarter.yield() }
        return accepted
    }

    /// Runs the lanes until `shutdown()` has drained the batcher.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await _ in laneStarts {
                group.addTask { await self.runLane() }
            }
        }
    }

    /// Items queued and not yet in a batch.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Refuses new items from now on; what is queued or in flight still completes.
    public func close() {
        state.withLock { $0.closed = true }
    }

    /// `close()`, then `drain()`, then lets `run()` return: for a process shutting down.
    public func shutdown() async {
        close()
        await drain()
        laneStarter.finish()
    }

    /// Waits until no batch is in flight and nothing is queued.
    public func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state in
                if state.running == 0 && state.waiting.isEmpty { return true }
                state.drained.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private static func take(_ state: inout State, _ maxBatch: Int) -> [Waiting] {
        let count = min(maxBatch, state.waiting.count)
        let batch = Array(state.waiting.prefix(count))
        state.waiting.removeFirst(count)
        return batch
    }

    /// One lane: processes batches until nothing is waiting.
    private func runLane() async {
        while let batch = nextBatchOrStop() {
            metrics?.observe("batch_size", [("stage", name)], microseconds: Int64(batch.count))
            let started = ContinuousClock.now
            let results = await process(batch.map(\.item))
            metrics?.observe("batch_duration_seconds", [("stage", name)], microseconds: (ContinuousClock.now - started).wholeMicroseconds)
            for (index, waiting) in batch.enumerated() {
                if index < results.count {
                    waiting.continuation?.resume(with: results[index])
                } else {
                    waiting.continuation?.resume(throwing: ServiceError(.internalError, "\(name): no answer for item \(index) of its batch"))
                }
            }
        }
    }

    /// The next batch, or nil after this lane has stopped (nothing was waiting); the last lane to
    /// stop wakes whoever waits in `drain`.
    private func nextBatchOrStop() -> [Waiting]? {
        let (next, drained): ([Waiting]?, [CheckedContinuation<Void, Never>]) = state.withLock { state in
            if state.waiting.isEmpty {
                state.running -= 1
                guard state.running == 0 else { return (nil, []) }
                defer { state.drained.removeAll() }
                return (nil, state.drained)
            }
            return (Self.take(&state, maxBatch), [])
        }
        for waiter in drained { waiter.resume() }
        return next
    }
}

extension Batcher {
    /// For stages whose batch call answers all items or fails as a whole: the failure becomes every
    /// item's answer.
    public static func everyItem(
        _ body: @escaping @Sendable ([Item]) async throws -> [Output]
    ) -> Process {
        { items in
            do {
                return try await body(items).map { .success($0) }
            } catch {
                return items.map { _ in .failure(error) }
            }
        }
    }
}

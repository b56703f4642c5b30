import Dispatch
import Foundation

/// A long-lived part of a process (a listener, a job): `run` until asked to `shutdown`.
public protocol LifecycleService: Sendable {
    var name: String { get }
    func run() async throws
    /// Stop taking work, finish what is in flight, then let `run` return.
    func shutdown() async
}

/// Runs services together: all start at once; on SIGTERM/SIGINT (or when one of them ends) they are
/// shut down in reverse order of the list, so the front door closes before what it depends on.
public enum ServiceGroup {
    public static func run(_ services: [any LifecycleService], logger: Logger) async throws {
        let signals = SignalWatcher(signals: [SIGTERM, SIGINT])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services {
                group.addTask {
                    do {
                        try await service.run()
                    } catch {
                        logger.error("service stopped with an error", [("service.part", service.name), ("error", "\(error)")])
                        throw error
                    }
                }
            }
            group.addTask {
                let signal = await signals.next()
                logger.info("shutting down", [("signal", signal.map(String.init) ?? "none")])
            }
            // Whatever finishes first (a signal, or a service ending) starts the shutdown.
            var failure: (any Error)?
            do {
                try await group.next()
            } catch {
                failure = error
            }
            for service in services.reversed() {
                await service.shutdown()
            }
            signals.cancel()
            while true {
                do {
                    guard try await group.next() != nil else { break }
                } catch {
                    failure = failure ?? error
                }
            }
            if let failure { throw failure }
        }
        logger.info("stopped")
    }
}

/// Turns process signals into an async event, using a dispatch source rather than a C handler so
/// no work happens in signal context.
final class SignalWatcher: Sendable {
    // Created in init and only cancelled afterwards; dispatch sources are thread-safe.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(signals: [Int32]) {
        (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let continuation = self.continuation
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    func next() async -> Int32? {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next()
    }

    func cancel() {
        for source in sources { source.cancel() }
        continuation.finish()
    }
}

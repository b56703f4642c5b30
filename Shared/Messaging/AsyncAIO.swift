internal import CNNG
import Foundation
import Synchronization

/// An `nng_aio` whose completion callback resumes a Swift continuation: one outstanding operation
/// at a time, no thread blocked while it is in flight.
///
/// The aio holds an unretained pointer to this object; `deinit` frees the aio, and `nng_aio_free`
/// waits for a running callback to return, so the callback never sees a freed object. The callback
/// touches nothing after resuming the continuation, whose task may drop the last reference.
final class AsyncAIO: Sendable {
    private let waiter = Mutex<CheckedContinuation<Int32, Never>?>(nil)
    // Set once in init, then only read; nng itself serialises use of the aio.
    nonisolated(unsafe) private(set) var handle: OpaquePointer?

    init() throws(MessagingError) {
        var aio: OpaquePointer?
        let context = Unmanaged.passUnretained(self).toOpaque()
        try nngCheck(
            nng_aio_alloc(
                &aio,
                { argument in
                    guard let argument else { return }
                    // No retain here: were the callback to hold the last reference, the deinit
                    // would run inside the callback and nng_aio_free would wait for itself.
                    Unmanaged<AsyncAIO>.fromOpaque(argument)._withUnsafeGuaranteedRef { $0.completed() }
                }, context), "allocate aio")
        handle = aio
    }

    deinit {
        if let handle { nng_aio_free(handle) }
    }

    private func completed() {
        let result = nng_aio_result(handle)
        let continuation = waiter.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }
        continuation?.resume(returning: result)
    }

    /// Starts one operation with `start` and waits for nng to complete it; returns nng's result.
    /// `start` returns false when it chose not to start anything (the result is then NNG_ECANCELED).
    /// Task cancellation cancels the operation.
    func run(_ start: (OpaquePointer) -> Bool) async -> Int32 {
        guard let handle else { return Int32(NNG_ENOMEM.rawValue) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
                waiter.withLock { $0 = continuation }
                guard start(handle) else {
                    waiter.withLock { $0 = nil }
                    continuation.resume(returning: Int32(NNG_ECANCELED.rawValue))
                    return
                }
                // A cancellation that arrived before the operation started found nothing to cancel.
                if Task.isCancelled { nng_aio_cancel(handle) }
            }
        } onCancel: {
            self.cancel()
        }
    }

    func setTimeout(milliseconds: Int32) {
        nng_aio_set_timeout(handle, milliseconds)
    }

    func cancel() {
        nng_aio_cancel(handle)
    }

    /// Sends `bytes` on a context; nng takes the message only on success.
    func send(_ bytes: [UInt8], on context: nng_ctx) async throws(MessagingError) {
        var message: OpaquePointer?
        try nngCheck(nng_msg_alloc(&message, bytes.count), "allocate message")
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { source in
                _ = memcpy(nng_msg_body(message), source.baseAddress!, bytes.count)
            }
        }
        let result = await run { aio in
            nng_aio_set_msg(aio, message)
            nng_ctx_send(context, aio)
            return true
        }
        if result != 0 {
            nng_msg_free(message)
            throw nngError(result, "send")
        }
    }

    /// Receives one message on a context. `start` decides whether to start at all (servers stop
    /// receiving while they drain).
    func receive(on context: nng_ctx, startIf shouldStart: () -> Bool = { true })
        async throws(MessagingError) -> [UInt8]
    {
        let result = await run { aio in
            guard shouldStart() else { return false }
            nng_ctx_recv(context, aio)
            return true
        }
        try nngCheck(result, "receive")
        guard let message = nng_aio_get_msg(handle) else {
            throw MessagingError(code: .other, operation: "receive", text: "no message on a completed receive")
        }
        defer { nng_msg_free(message) }
        let length = nng_msg_len(message)
        guard length > 0, let body = nng_msg_body(message) else { return [] }
        return Array(UnsafeRawBufferPointer(start: body, count: length))
    }
}

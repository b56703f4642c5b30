import Postgres
import Redis
import ServiceKit
import Wire

/// What a caller of risk-control may see of a failure: ServiceKit's `ErrorPolicy` (a refusal of
/// the request goes back as it is; a library's error becomes a code and a message of ours, its
/// text logged with the request id), plus one step it leaves to the service: a 5xx `ServiceError`
/// made inside risk-control can carry internal text (the engine puts Redis's reply into the error
/// of a failed batch item), so its message is replaced by a generic one and the original logged.
enum CallerFacingErrors {
    /// Redis and PostgreSQL are risk-control's dependencies: their failures answer
    /// DEPENDENCY_UNAVAILABLE. The router applies the same policy to anything not shielded.
    static let policy = ErrorPolicy { error in
        switch error {
        case is RedisError, is PostgresError: ServiceError(.dependencyUnavailable, "a dependency of risk-control is unavailable")
        default: nil
        }
    }

    /// The answer for `error`, logging what really happened when the answer hides it.
    static func shield(_ error: any Error, call: String, logger: Logger) -> ServiceError {
        guard let failure = error as? ServiceError, failure.code.httpStatus >= 500 else {
            return policy.answer(for: error, logger: logger.with([("call.part", call)]))
        }
        let generic =
            failure.code == .dependencyUnavailable
            ? "a dependency of risk-control is unavailable" : "internal error (the service's log has the details)"
        logger.error("\(call) failed inside risk-control", [("error", failure.description), ("call.part", call)])
        return ServiceError(failure.code, generic)
    }
}

extension RPCRouter {
    /// `register`, with every failure of `handler` passed through `CallerFacingErrors.shield`.
    mutating func registerShielded<R: WireRequest>(
        _ type: R.Type, _ handler: @escaping @Sendable (R, RequestContext) async throws -> R.Response
    ) {
        register(type) { request, context in
            do {
                return try await handler(request, context)
            } catch {
                throw CallerFacingErrors.shield(error, call: R.kind.name, logger: context.logger)
            }
        }
    }
}

import Postgres
import Redis
import ServiceKit
import Wire

/// What a caller of risk-control may see of a failure. A refusal of the request itself (a
/// `ServiceError` whose code is a 4xx: invalid argument, not found, …) says what was wrong with
/// the request and goes back as it is. Everything else happened inside risk-control — a Redis
/// reply, a PostgreSQL error with its SQL, a bug — and stays inside: it is logged with the request
/// id, and the caller gets only its code and a generic message.
enum CallerFacingErrors {
    /// The answer for `error`, logging what really happened when the answer hides it.
    static func shield(_ error: any Error, call: String, logger: Logger) -> ServiceError {
        let answer = answer(for: error, call: call)
        if answer != error as? ServiceError {
            logger.error("\(call) failed inside risk-control", [("error", "\(error)"), ("answered.code", answer.code.name)])
        }
        return answer
    }

    static func answer(for error: any Error, call: String) -> ServiceError {
        switch error {
        case let refusal as ServiceError where refusal.code.httpStatus < 500:
            refusal
        case let failure as ServiceError:
            ServiceError(failure.code, generic(failure.code, call: call))
        case is RedisError, is PostgresError:
            ServiceError(.dependencyUnavailable, generic(.dependencyUnavailable, call: call))
        default:
            ServiceError(.internalError, generic(.internalError, call: call))
        }
    }

    private static func generic(_ code: ErrorCode, call: String) -> String {
        code == .dependencyUnavailable
            ? "\(call): a dependency of risk-control is unavailable" : "\(call) failed inside risk-control"
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

import Postgres
import Redis
import ServiceKit
import Wire

/// coupon-center's translation of library errors for the `ErrorPolicy` both fronts share:
/// PostgreSQL or Redis failing is a dependency being down (503), not a bug of ours (500). The
/// library's own text (SQL, addresses) stays in the log.
@Sendable func translateDependencyError(_ error: any Error) -> ServiceError? {
    switch error {
    case let error as PostgresError:
        switch error.code {
        case .connectionFailed, .poolClosed, .timeout, .connectionReleased:
            return ServiceError(.dependencyUnavailable, "PostgreSQL is unavailable: \(error.code)")
        default:
            return nil
        }
    case let error as RedisError:
        return ServiceError(.dependencyUnavailable, "Redis is unavailable: \(error.code)")
    default:
        return nil
    }
}

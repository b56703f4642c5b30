import Redis
import Wire

/// What Scripts/claim_reserve.lua answered, read from its reply by a pure function total on any
/// `RedisValue`. Deploy/fuzz compiles this file alone into the `redis-reply` target, so it imports
/// nothing of coupon-center.
///
/// The script always answers `{verdict, generation}`. Only `{OK, generation}` with a generation
/// reserves; anything else that is not exactly one of the script's answers throws
/// DEPENDENCY_UNAVAILABLE and the claim fails without a coupon. That is the safe side for money: a
/// reply read as OK would let a claim past the stock, daily, per-user and budget checks of the fast
/// path, and one read as a refusal would turn a customer away for our fault with a reason that is
/// not true. An OK lost this way leaves counters that count one claim too many (the claim never
/// reaches PostgreSQL) and a lock that expires by itself: refusals come early until the next
/// rebuild, never a coupon over a limit.
enum ReserveVerdict: Equatable, Sendable {
    /// Reserved; the user's claim lock on the template is held with the caller's token.
    case reserved(generation: String)
    /// Another claim of this user on this template holds the lock.
    case locked
    case refused(ErrorCode)
    /// A counter is missing from Redis and must be rebuilt from PostgreSQL before asking again.
    case reload(Counter)

    enum Counter: Equatable, Sendable {
        case template, day, user
    }

    static func decode(fromReply reply: RedisValue) throws(ServiceError) -> ReserveVerdict {
        guard let parts = reply.array, parts.count == 2, let verdict = parts[0].string, let generation = parts[1].string else {
            throw unreadable("\(reply), not {verdict, generation}")
        }
        switch verdict {
        case "OK":
            // release gives the reservation back only while the template's generation is this one.
            guard !generation.isEmpty else { throw unreadable("OK without the counters' generation") }
            return .reserved(generation: generation)
        case "LOCKED": return .locked
        case "SOLD_OUT": return .refused(.soldOut)
        case "DAILY_LIMIT": return .refused(.dailyLimitReached)
        case "PER_USER_LIMIT": return .refused(.perUserLimitReached)
        case "BUDGET_EXHAUSTED": return .refused(.budgetExhausted)
        case "RELOAD_TEMPLATE": return .reload(.template)
        case "RELOAD_DAY": return .reload(.day)
        case "RELOAD_USER": return .reload(.user)
        default: throw unreadable("the unknown verdict \(verdict.debugDescription)")
        }
    }

    private static func unreadable(_ what: String) -> ServiceError {
        ServiceError(.dependencyUnavailable, "the claim reserve script answered \(what)")
    }
}

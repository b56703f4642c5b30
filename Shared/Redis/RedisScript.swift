/// A Lua script run with `RedisPool.evaluate`. Only the source is kept here: its SHA1 is the one
/// `SCRIPT LOAD` returns, cached by each pool.
public struct RedisScript: Sendable, Hashable {
    public let source: String

    public init(_ source: String) {
        self.source = source
    }
}

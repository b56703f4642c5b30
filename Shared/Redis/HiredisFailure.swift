internal import CHiredis

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Everything that can go wrong below the Swift API, as hiredis reports it. `RedisError.init(_:)`
/// is the one place these become Swift errors.
enum HiredisFailure {
    /// The context's `err`/`errstr` after a failed call, with `errno` read right after it (hiredis
    /// reports a socket timeout as an I/O error whose errno is EAGAIN, or ETIMEDOUT on connect).
    case context(err: Int32, text: String, errno: Int32, during: String)
    /// hiredis returned no context or no reply without saying why: it could not allocate.
    case outOfMemory(during: String)
    /// The server answered with an error reply.
    case errorReply(String)
    /// A reply type this version of the wrapper does not know.
    case unknownReplyType(Int32)

    /// Reads the failure off a context whose call has just failed.
    static func from(_ context: UnsafeMutablePointer<redisContext>, errno: Int32, during: String) -> Self {
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .context(err: context.pointee.err, text: text, errno: errno, during: during)
    }
}

extension RedisError {
    init(_ failure: HiredisFailure) {
        switch failure {
        case .context(let err, let text, let errnoValue, let during):
            switch err {
            case REDIS_ERR_IO where [EAGAIN, EWOULDBLOCK, ETIMEDOUT, EINPROGRESS].contains(errnoValue):
                self.init(.timeout, "\(during): timed out (\(text))")
            case REDIS_ERR_IO:
                self.init(.connectionFailed, "\(during): \(text)")
            case REDIS_ERR_EOF:
                self.init(.connectionFailed, "\(during): the server closed the connection (\(text))")
            case REDIS_ERR_PROTOCOL:
                self.init(.protocolError, "\(during): \(text)")
            default:  // REDIS_ERR_OOM, REDIS_ERR_OTHER (for example a host that does not resolve)
                self.init(.connectionFailed, "\(during): \(text) (hiredis error \(err))")
            }
        case .outOfMemory(let during):
            self.init(.connectionFailed, "\(during): hiredis could not allocate")
        case .errorReply(let text):
            self.init(text.hasPrefix("NOSCRIPT") ? .noScript : .serverError, text)
        case .unknownReplyType(let type):
            self.init(.protocolError, "hiredis returned an unknown reply type \(type)")
        }
    }
}

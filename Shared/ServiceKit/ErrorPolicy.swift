import Wire

/// What a caller hears when a call fails, and what only the log keeps: the one policy both fronts
/// (the binary `RPCRouter` and an HTTP front) apply, so the two APIs answer a failure alike.
///
/// - A `ServiceError` is the answer as it is (one of 5xx is logged).
/// - A library's error that `translate` recognises (a dropped database connection, say) becomes its
///   translation; the library's own text (SQL, addresses) is logged, never sent.
/// - Anything else is a bug of ours: INTERNAL with a generic message, the error in the log.
public struct ErrorPolicy: Sendable {
    public var translate: @Sendable (any Error) -> ServiceError?

    public init(translate: @escaping @Sendable (any Error) -> ServiceError? = { _ in nil }) {
        self.translate = translate
    }

    public func answer(for error: any Error, logger: Logger) -> ServiceError {
        if let error = error as? ServiceError {
            if error.code.httpStatus >= 500 { logger.warning("call failed", [("error", error.description)]) }
            return error
        }
        if let translated = translate(error) {
            logger.warning("call failed", [("error", translated.description), ("cause", "\(error)")])
            return translated
        }
        logger.error("call failed unexpectedly", [("error", "\(error)")])
        return ServiceError(.internalError, "internal error (the service's log has the details)")
    }
}

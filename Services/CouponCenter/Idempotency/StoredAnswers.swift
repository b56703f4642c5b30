import BatchInputs
import Postgres
import ServiceKit
import Wire

/// The idempotency of the money path (Shared/DESIGN.md §2, invariant 3): a mutating call may carry a
/// request id; a retry gets the first answer, the same id with another request gets 409.
///
/// One component serves every idempotent call: the operations are named by `IdempotentOperation`,
/// a request is compared by its `RequestFingerprint`, an answer is kept in its `ReplayableAnswer`
/// form, and `previous(_:requestId:fingerprint:as:)` is the one typed read. The record itself is
/// written in the same transaction as the change it answers (by `claim_coupons`, `redeem_coupons`
/// and the points grant), from the stored form the answer gives here.
enum IdempotentOperation: String, Sendable, CaseIterable {
    case claim
    case exchange
    case use
    case pointsGrant = "points_grant"
}

/// A request's fields as one text, escaped so that different field lists never give the same text:
/// what a request id is compared against when it comes back.
struct RequestFingerprint: Sendable, Equatable {
    let text: String

    init(_ fields: [String]) {
        var out: [UInt8] = []
        for (index, field) in fields.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "|")) }
            for byte in field.utf8 {
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "|") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
        }
        text = String(decoding: out, as: UTF8.self)
    }
}

/// An answer that is stored with its request id and given again to a retry.
protocol ReplayableAnswer: Sendable {
    /// The JSON kept in `idempotency_record.response`.
    var storedForm: JSONValue { get }
    /// Reads a stored form back; a record this code cannot read is an internal error.
    init(storedForm: JSONValue) throws(ServiceError)
}

struct StoredAnswers: Sendable {
    /// Which stored answer: the operation and the caller's request id.
    struct Key: Sendable, Hashable {
        var operation: IdempotentOperation
        var requestId: String
    }

    /// A stored record as read: the fingerprint of the first request and its answer (JSON text).
    struct Record: Sendable {
        var fingerprint: String
        var response: String
    }

    /// Concurrent look-ups share one query.
    private let lookups: Batcher<Key, Record?>

    init(database: PostgresPool, metrics: Metrics) {
        lookups = BatchedStages.batcher("stored_answers", metrics) { keys in try await Self.read(keys, database: database) }
    }

    /// The first answer to `requestId` (nil when there is none, or no request id), or a 409 when
    /// the id came with another request.
    func previous<Answer: ReplayableAnswer>(
        _ operation: IdempotentOperation, requestId: String?, fingerprint: RequestFingerprint, as: Answer.Type
    ) async throws -> Answer? {
        guard let requestId, let record = try await lookups.submit(Key(operation: operation, requestId: requestId)) else { return nil }
        return try Self.replay(record, requestId: requestId, fingerprint: fingerprint, as: Answer.self)
    }

    /// A record's answer for a request with `fingerprint`: the answer, or 409 for another request.
    static func replay<Answer: ReplayableAnswer>(
        _ record: Record, requestId: String, fingerprint: RequestFingerprint, as: Answer.Type
    ) throws(ServiceError) -> Answer {
        guard record.fingerprint == fingerprint.text else { throw reused(requestId) }
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(record.response.utf8))
        } catch {
            throw ServiceError(.internalError, "the stored answer to request \(requestId) is not JSON")
        }
        return try Answer(storedForm: value)
    }

    static func reused(_ requestId: String) -> ServiceError {
        ServiceError(.idempotencyKeyReused, "requestId \(requestId) was used before with a different request")
    }

    /// The stored records of several keys in one query, in the order asked (nil: none).
    private static func read(_ keys: [Key], database: PostgresPool) async throws -> [Record?] {
        let wanted = JSONValue.array(
            keys.map { key in
                .batchInput { (field: AnswerKeyField) in
                    switch field {
                    case .operation: .string(key.operation.rawValue)
                    case .requestId: .string(key.requestId)
                    }
                }
            })
        let rows = try await database.query(
            """
            SELECT r.operation, r.request_id, r.payload, r.response::text FROM idempotency_record r
              JOIN jsonb_populate_recordset(NULL::answer_key, $1::jsonb) AS k
                ON r.operation = k.operation AND r.request_id = k."requestId"
            """, [wanted.serialized()])
        var found: [Key: Record] = [:]
        for row in rows {
            // Strict: an operation this code does not know is an error naming the column.
            found[Key(operation: try row.decode(0, as: IdempotentOperation.self), requestId: try row.decode(1))] = Record(
                fingerprint: try row.decode(2), response: try row.decode(3))
        }
        return keys.map { found[$0] }
    }

    /// Its batched stage, a service of the process.
    var stages: [any LifecycleService] { [lookups] }
}

/// Reads the integer members of a stored answer; a missing or non-integer member is an internal
/// error naming it.
struct StoredFields {
    let value: JSONValue

    func string(_ name: String) throws(ServiceError) -> String {
        guard case .string(let text)? = value[name] else { throw missing(name) }
        return text
    }

    func integer(_ name: String) throws(ServiceError) -> Int64 {
        guard case .number(let text)? = value[name], let number = Int64(text) else { throw missing(name) }
        return number
    }

    func optionalInteger(_ name: String) throws(ServiceError) -> Int64? {
        guard let member = value[name], member != .null else { return nil }
        guard case .number(let text) = member, let number = Int64(text) else { throw missing(name) }
        return number
    }

    private func missing(_ name: String) -> ServiceError {
        ServiceError(.internalError, "a stored answer has no readable '\(name)'")
    }
}

extension ClaimResponse: ReplayableAnswer {
    var storedForm: JSONValue {
        var members: [(String, JSONValue)] = [
            ("couponId", .string(couponId)), ("templateId", .string(templateId)), ("expiresAt", .integer(expiresMilliseconds)),
            ("threshold", .integer(thresholdCents)), ("discount", .integer(discountCents)),
        ]
        if let pointsLeft { members.append(("pointsLeft", .integer(pointsLeft))) }
        return .object(members)
    }

    init(storedForm: JSONValue) throws(ServiceError) {
        let fields = StoredFields(value: storedForm)
        self.init(
            couponId: try fields.string("couponId"), templateId: try fields.string("templateId"),
            expiresMilliseconds: try fields.integer("expiresAt"), thresholdCents: try fields.integer("threshold"),
            discountCents: try fields.integer("discount"), pointsLeft: try fields.optionalInteger("pointsLeft"))
    }
}

extension UseResponse: ReplayableAnswer {
    var storedForm: JSONValue {
        .object([
            ("orderId", .string(orderId)), ("couponId", .string(couponId)), ("discount", .integer(discountCents)),
            ("payable", .integer(payableCents)),
        ])
    }

    init(storedForm: JSONValue) throws(ServiceError) {
        let fields = StoredFields(value: storedForm)
        self.init(
            orderId: try fields.string("orderId"), couponId: try fields.string("couponId"), discountCents: try fields.integer("discount"),
            payableCents: try fields.integer("payable"))
    }
}

extension PointsBalance: ReplayableAnswer {
    var storedForm: JSONValue { .object([("points", .integer(points))]) }

    /// The stored form keeps the balance only; the user id comes from the request.
    init(storedForm: JSONValue) throws(ServiceError) {
        self.init(userId: "", points: try StoredFields(value: storedForm).integer("points"))
    }
}

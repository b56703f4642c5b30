import Testing

@testable import Wire

/// A claim through an experiment is its own kind (`experiment_claim`, 0x0138), so `claim` (0x0110)
/// keeps the six fields every existing caller sends (PROTOCOL.md "Versioning").
@Suite struct ExperimentClaimWireTests {
    static func text(_ value: String) -> [UInt8] { [UInt8(value.utf8.count)] + Array(value.utf8) }

    /// The six fields written out by hand, as a caller built from the document would: they decode
    /// to a claim, and one byte more (a seventh field's "absent") is refused, not read.
    @Test func theSixFieldClaimDecodesAndASeventhFieldIsRefused() throws {
        let sixFields = Self.text("u-42") + Self.text("tpl-1") + Self.text("app") + [1] + Self.text("dev-7") + [0] + [1] + Self.text("req-1")
        let decoded = try WireBody.decode(ClaimRequest.self, from: sixFields)
        #expect(decoded == ClaimRequest(userId: "u-42", templateId: "tpl-1", channel: "app", deviceId: "dev-7", ip: nil, requestId: "req-1"))
        #expect(try WireBody.encode(decoded) == sixFields)
        #expect(throws: WireDecodingError.self) { try WireBody.decode(ClaimRequest.self, from: sixFields + [0]) }
    }

    /// `userId` and `experimentId` are both strings, so a swap of the two declarations would still
    /// decode: the order is pinned here by bytes, and the swapped body reads as another request.
    @Test func swappingUserAndExperimentChangesTheBytesAndTheMeaning() throws {
        let request = ExperimentClaimRequest(userId: "u-42", experimentId: "x-1", channel: "app")
        let bytes = try WireBody.encode(request)
        #expect(bytes == Self.text("u-42") + Self.text("x-1") + Self.text("app") + [0, 0, 0])
        let swapped = Self.text("x-1") + Self.text("u-42") + Self.text("app") + [0, 0, 0]
        let misread = try WireBody.decode(ExperimentClaimRequest.self, from: swapped)
        #expect(misread.userId == "x-1" && misread.experimentId == "u-42")
        #expect(misread != request)
    }

    /// The two claims are told apart by the kind, not by the body's length.
    @Test func theExperimentClaimHasItsOwnKindAndTheClaimsReply() {
        #expect(ExperimentClaimRequest.kind.rawValue == 0x0138)
        #expect(ExperimentClaimRequest.kind.name == "experiment_claim")
        #expect(ExperimentClaimRequest.kind != ClaimRequest.kind)
        #expect(ExperimentClaimRequest.Response.self == ClaimRequest.Response.self)
    }
}

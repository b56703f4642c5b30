import Testing

@testable import Wire

/// The credential block of a request frame (flags 4, PROTOCOL.md "Credential block"): read in its
/// order, bounded, refused when inconsistent, and absent frames unchanged.
@Suite struct CredentialBlockTests {
    static let header = FrameHeader(kind: .templatePause, requestId: 0x0A0B_0C0D_0E0F_1011)

    @Test func theBlockComesBeforeTheBodyAndBodyLengthCountsBoth() throws {
        let bytes = FrameCodec.encode(Frame(header: Self.header, body: [0xAA, 0xBB], credential: Array("tok".utf8)))
        #expect(bytes[3] == 0x04, "the CREDENTIAL flag")
        #expect(Array(bytes[24..<28]) == [0, 0, 0, 7], "bodyLength: 2 + 3 + 2")
        #expect(Array(bytes[28...]) == [0x00, 0x03, 0x74, 0x6F, 0x6B, 0xAA, 0xBB])
        let frame = try FrameCodec.decode(bytes)
        #expect(frame.credential == Array("tok".utf8) && frame.body == [0xAA, 0xBB])
        #expect(FrameCodec.encode(frame) == bytes)
    }

    @Test func aFrameWithoutTheFlagIsReadAsBefore() throws {
        let plain = FrameCodec.encode(Frame(header: Self.header, body: [0x00, 0x03, 0x74, 0x6F, 0x6B]))
        #expect(plain[3] == 0x00)
        let frame = try FrameCodec.decode(plain)
        #expect(frame.credential == nil && frame.body == [0x00, 0x03, 0x74, 0x6F, 0x6B], "the same bytes are a body, not a block")
    }

    /// The length and the credential swapped in place, or the length's two bytes swapped: the
    /// frame is refused or reads as something else, never as the original.
    @Test func swappedFieldsDoNotReadAsTheOriginal() throws {
        let bytes = FrameCodec.encode(Frame(header: Self.header, body: [0x01], credential: Array("ab".utf8)))
        var lengthSwapped = bytes
        lengthSwapped.swapAt(28, 29)
        #expect(throws: FrameError.self) { try FrameCodec.decode(lengthSwapped) }
        var credentialAndBodySwapped = bytes
        credentialAndBodySwapped.swapAt(30, 32)
        #expect(try FrameCodec.decode(credentialAndBodySwapped).credential != Array("ab".utf8))
    }

    @Test func inconsistentBlocksAreRefused() {
        func frame(flags: UInt8, body: [UInt8]) -> [UInt8] {
            var bytes = FrameCodec.encode(Frame(header: Self.header, body: body))
            bytes[3] = flags
            return bytes
        }
        let cases: [(String, [UInt8], FrameError.Reason)] = [
            ("no length", frame(flags: 4, body: [0x00]), .badCredential),
            ("zero length", frame(flags: 4, body: [0x00, 0x00, 0x41]), .badCredential),
            ("longer than the frame", frame(flags: 4, body: [0x00, 0x05, 0x41]), .badCredential),
            ("above 512 bytes", frame(flags: 4, body: [0x02, 0x01] + [UInt8](repeating: 0x41, count: 513)), .badCredential),
            ("on a reply", frame(flags: 5, body: [0x00, 0x01, 0x41]), .invalidFlags),
            ("on an error reply", frame(flags: 7, body: [0x00, 0x01, 0x41]), .invalidFlags),
        ]
        for (name, bytes, reason) in cases {
            #expect(throws: FrameError.self, "\(name)") { try FrameCodec.decode(bytes) }
            do {
                _ = try FrameCodec.decode(bytes)
            } catch {
                #expect(error.reason == reason, "\(name): \(error)")
                #expect(error.errorCode == .badFrame, "\(name)")
            }
        }
        let longest = FrameCodec.encode(Frame(header: Self.header, body: [], credential: [UInt8](repeating: 0x41, count: 512)))
        #expect((try? FrameCodec.decode(longest))?.credential?.count == 512)
    }

    @Test func theEnvelopeSendsTheCredential() throws {
        let bytes = try Envelope.request(PauseTemplateRequest(templateId: "tpl-1"), requestId: 1, credential: "cct_x")
        let frame = try FrameCodec.decode(bytes)
        #expect(frame.credential == Array("cct_x".utf8))
        #expect(try WireBody.decode(PauseTemplateRequest.self, from: frame.body) == PauseTemplateRequest(templateId: "tpl-1"))
        let without = try FrameCodec.decode(try Envelope.request(PauseTemplateRequest(templateId: "tpl-1"), requestId: 1))
        #expect(without.credential == nil && without.header.flags == [])
    }
}

import Foundation
import HopscopeModel
import Netlink
import Testing

@Suite struct AttributeDecoderTests {
    /// Attributes: type 1 u32 = 7, type 2 string "eth0", type 3 nested { type 1 u16 = 9 }.
    static let wellFormed: [UInt8] = {
        var b = NetlinkMessageBuilder(type: 0, flags: [])
        b.attribute(1, uint32: 7)
        b.attribute(2, string: "eth0")
        b.beginNest(3)
        b.attribute(1, uint16: 9)
        b.endNest()
        return Array(b.bytes[16...])
    }()

    @Test func readsValuesAndNestedAttributes() throws {
        try withPayload(Self.wellFormed) { p in
            var a = AttributeDecoder(p, context: "test")
            var seen: [String] = []
            while a.next() {
                switch a.type {
                case 1: seen.append("u32 \(a.uint32())")
                case 2: seen.append("string \(a.string())")
                case 3:
                    var n = a.nested("nest")
                    while n.next() { seen.append("nested u16 \(n.uint16())") }
                    a.absorb(n)
                default: Issue.record("unexpected type \(a.type)")
                }
            }
            try a.finish()
            #expect(seen == ["u32 7", "string eth0", "nested u16 9"])
        }
    }

    @Test func attributeLongerThanTheBufferIsTruncated() throws {
        var bytes = Self.wellFormed
        bytes[8] = 40 // the string attribute claims 40 bytes
        try withPayload(bytes) { p in
            var a = AttributeDecoder(p, context: "test")
            while a.next() { _ = a.uint32() }
            let e = try #require(a.error)
            #expect(e.problem == .truncated)
            #expect(e.attribute == 2)
            #expect(e.offset == 8)
            #expect(throws: NetlinkDecodeError.self) { try a.finish() }
        }
    }

    @Test func lengthShorterThanTheHeaderIsMalformed() throws {
        var bytes = Self.wellFormed
        bytes[0] = 2
        withPayload(bytes) { p in
            var a = AttributeDecoder(p, context: "test")
            let more = a.next()
            #expect(!more)
            #expect(a.error?.problem == .malformed)
        }
    }

    @Test func wrongSizeForAnIntegerIsMalformedAndSticky() throws {
        withPayload(Self.wellFormed) { p in
            var a = AttributeDecoder(p, context: "test")
            let first = a.next()
            #expect(first)
            let wide = a.uint64() // a 4-byte attribute read as u64
            #expect(wide == 0)
            #expect(a.error?.problem == .malformed)
            #expect(a.error?.description.contains("expected a 8-byte value, found 4") == true)
            // Sticky: nothing more is read, the first error stays.
            let more = a.next()
            #expect(!more)
            let after = a.uint32()
            #expect(after == 0)
            #expect(a.error?.attribute == 1)
        }
    }

    @Test func nestedErrorIsAbsorbedByTheParent() throws {
        var bytes = Self.wellFormed
        let nestStart = bytes.count - 12
        bytes[nestStart + 4] = 50 // the inner attribute claims 50 bytes
        withPayload(bytes) { p in
            var a = AttributeDecoder(p, context: "outer")
            while a.next() {
                guard a.type == 3 else { continue }
                var n = a.nested("inner")
                while n.next() {}
                a.absorb(n)
            }
            #expect(a.error?.context == "inner")
            #expect(a.error?.problem == .truncated)
        }
    }

    @Test func strayBytesAfterTheLastAttributeAreTruncated() throws {
        withPayload(Self.wellFormed + [1, 2]) { p in
            var a = AttributeDecoder(p, context: "test")
            while a.next() {}
            #expect(a.error?.problem == .truncated)
        }
    }

    @Test func ipAddressOfOddLengthIsMalformed() throws {
        var b = NetlinkMessageBuilder(type: 0, flags: [])
        b.attribute(1, [192, 0, 2])
        withPayload(Array(b.bytes[16...])) { p in
            var a = AttributeDecoder(p, context: "test")
            let first = a.next()
            #expect(first)
            let ip = a.ipAddress()
            #expect(ip == nil)
            #expect(a.error?.problem == .malformed)
        }
    }

    /// Every cut of real kernel messages either decodes or throws a decode error: no crash, no
    /// read past the end (the bytes are copied so the sanitizer-free build would still fault on
    /// an overrun into unmapped memory only rarely; the bounds checks are what is tested).
    @Test(arguments: [
        "link_vxlan__test_parsing_link_vxlan__raw.bin",
        "link_bridge__test_bridge_port_link_info__raw.bin",
        "link_statistics__test_parsing_link_statistics__raw.bin",
    ])
    func everyTruncationOfALinkMessageIsCaught(_ name: String) throws {
        let bytes = try Fixture.route(name)
        var truncated = 0
        for cut in 0..<bytes.count {
            do {
                _ = try withPayload(Array(bytes[0..<cut])) { try LinkMessage.decode($0) }
            } catch let e as NetlinkDecodeError {
                if e.problem == .truncated { truncated += 1 }
            }
        }
        // Cuts that land exactly between attributes decode (fewer attributes); the rest fail as truncated.
        #expect(truncated > bytes.count / 2)
    }

    @Test func everyTruncationOfRouteAndRuleMessagesIsCaught() throws {
        for name in ["route_multipath__test_route_multipath_two_nexthops__raw.bin", "rule_iif_oif__test_ipv4_iif_oif_prohibit__raw.bin"] {
            let bytes = try Fixture.route(name)
            for cut in 0..<bytes.count {
                do {
                    _ = try withPayload(Array(bytes[0..<cut])) { try name.hasPrefix("route") ? RouteMessage.decode($0).map { _ in () } : RuleMessage.decode($0).map { _ in () } }
                } catch is NetlinkDecodeError {
                }
            }
        }
    }

    @Test func multipathWithABadNexthopLengthIsMalformed() throws {
        var bytes = try Fixture.route("route_multipath__test_route_multipath_two_nexthops__raw.bin")
        // Find RTA_MULTIPATH (type 9) and shrink its first rtnexthop's length below 8.
        var offset = 12
        while offset + 4 <= bytes.count {
            let len = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
            if bytes[offset + 2] == 9 {
                bytes[offset + 4] = 4
                bytes[offset + 5] = 0
                break
            }
            offset += (len + 3) & ~3
        }
        #expect {
            try withPayload(bytes) { try RouteMessage.decode($0) }
        } throws: { e in (e as? NetlinkDecodeError)?.problem == .malformed }
    }
}

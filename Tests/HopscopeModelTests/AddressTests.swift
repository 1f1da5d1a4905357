import Foundation
import HopscopeModel
import Testing

@Suite struct AddressTests {
    @Test(arguments: ["0.0.0.0", "10.0.0.5", "255.255.255.255", "192.0.2.1"])
    func ipv4RoundTrips(_ text: String) throws {
        let a = try #require(IPv4Address(text))
        #expect(a.description == text)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "a.b.c.d", "1.2.3.4 ", "1234.1.1.1"])
    func ipv4RejectsBadText(_ text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test(arguments: [
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::", "::"), ("::1", "::1"), ("fe80::", "fe80::"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"),
    ])
    func ipv6CanonicalForm(_ input: String, _ expected: String) throws {
        let a = try #require(IPv6Address(input))
        #expect(a.description == expected)
        #expect(IPv6Address(a.description) == a)
    }

    @Test(arguments: [":::", "1:2:3:4:5:6:7:8:9", "12345::", "::g", "1::2::3", "1:2:3:4:5:6:7"])
    func ipv6RejectsBadText(_ text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test func ipv6BytesRoundTrip() throws {
        let a = try #require(IPv6Address("fe80::f816:3eff:fe12:3456"))
        #expect(IPv6Address(bytes: a.bytes) == a)
        #expect(a.isLinkLocal)
    }

    @Test func macParsesAndPrints() throws {
        let m = try #require(MACAddress("FA:16:3E:0A:0b:0C"))
        #expect(m.description == "fa:16:3e:0a:0b:0c")
        #expect(MACAddress(bytes: m.bytes) == m)
        #expect(!m.isMulticast)
        #expect(MACAddress("01:00:5e:00:00:01")!.isMulticast)
        #expect(MACAddress("fa:16:3e:0a:0b") == nil)
        #expect(MACAddress("fa:16:3e:0a:0b:0c:0d") == nil)
        #expect(MACAddress("fa:16:3e:0a:0b:xx") == nil)
    }

    @Test func prefixContainsAndNetwork() throws {
        let p = try #require(IPPrefix("10.10.0.5/24"))
        #expect(p.network == IPAddress("10.10.0.0"))
        #expect(p.contains(IPAddress("10.10.0.200")!))
        #expect(!p.contains(IPAddress("10.10.1.1")!))
        #expect(!p.contains(IPAddress("::1")!))
        #expect(IPPrefix("0.0.0.0/0")!.contains(IPAddress("203.0.113.1")!))
        #expect(IPPrefix("10.0.0.0/255.255.0.0")?.length == 16)
        #expect(IPPrefix("10.0.0.0/255.0.255.0") == nil)
        #expect(IPPrefix("10.0.0.0/33") == nil)
        let v6 = try #require(IPPrefix("2001:db8:1::/48"))
        #expect(v6.contains(IPAddress("2001:db8:1:ffff::1")!))
        #expect(!v6.contains(IPAddress("2001:db8:2::1")!))
        #expect(IPPrefix("2001:db8::1/127")!.contains(IPAddress("2001:db8::")!))
    }

    @Test func codableUsesTextForms() throws {
        struct Box: Codable, Equatable { var ip: IPAddress; var mac: MACAddress; var net: IPPrefix }
        let box = Box(ip: IPAddress("2001:db8::5")!, mac: MACAddress("fa:16:3e:00:00:01")!, net: IPPrefix("10.0.0.0/8")!)
        let data = try JSONEncoder().encode(box)
        let json = String(decoding: data, as: UTF8.self)
        #expect(json.contains("\"2001:db8::5\""))
        #expect(json.contains("\"fa:16:3e:00:00:01\""))
        #expect(json.contains("\"10.0.0.0\\/8\"") || json.contains("\"10.0.0.0/8\""))
        #expect(try JSONDecoder().decode(Box.self, from: data) == box)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(IPAddress.self, from: Data("\"10.0.0.256\"".utf8)) }
    }
}

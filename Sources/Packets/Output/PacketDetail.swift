/// Every decoded field of a frame as a Codable tree: the JSON form of `hopscope read --json`.
///
/// Built from a `Packet` and its frame bytes with `Packet.detail(in:)`; unlike `Packet` it owns
/// its values (arrays, strings), so it may outlive the frame, and building one allocates. The
/// JSON of each layer is the header's own fields (names as in the RFC) plus `"layer"`, plus
/// the decoded variable parts (`options`, `questions`, `answers`, ...).
public struct PacketDetail: Codable, Sendable, Hashable {
    /// Capture time, when known: seconds since the Unix epoch and nanoseconds.
    public var seconds: Int64?
    public var nanoseconds: Int32?
    public var linkType: Int32
    public var capturedLength: Int
    public var wireLength: Int
    public var layers: [LayerDetail]
    /// The first error: from decoding, or from reading a variable part (an option, a name).
    public var issue: DecodeError?
    /// The one-line summary.
    public var summary: String
    /// Flow identities (what correlation matches on).
    public var identities: PacketIdentities

    public init(seconds: Int64?, nanoseconds: Int32?, linkType: Int32, capturedLength: Int, wireLength: Int, layers: [LayerDetail],
                issue: DecodeError?, summary: String, identities: PacketIdentities) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
        self.linkType = linkType
        self.capturedLength = capturedLength
        self.wireLength = wireLength
        self.layers = layers
        self.issue = issue
        self.summary = summary
        self.identities = identities
    }
}

/// One layer with its variable parts decoded.
public struct LayerDetail: Codable, Sendable, Hashable {
    /// The header's fields.
    public var header: LayerHeader
    public var ipv4Options: [IPv4Option]?
    public var ipv6Options: [IPv6Option]?
    public var tcpOptions: [TCPOption]?
    public var ndOptions: [NDOption]?
    public var geneveOptions: [GeneveOption]?
    public var dhcpOptions: [DHCPOption]?
    public var questions: [DNSQuestion]?
    public var answers: [DNSResourceRecord]?
    public var authorities: [DNSResourceRecord]?
    public var additionals: [DNSResourceRecord]?
    /// The datagram an ICMP or ICMPv6 error quotes.
    public var quoted: [LayerDetail]?
    /// Payload bytes as hex (the first 64 bytes at most, like tshark's `data`).
    public var hex: String?

    public init(header: LayerHeader) { self.header = header }

    enum CodingKeys: String, CodingKey {
        case ipv4Options, ipv6Options, tcpOptions, ndOptions, geneveOptions, dhcpOptions
        case questions, answers, authorities, additionals, quoted, hex
    }

    public init(from decoder: any Decoder) throws {
        header = try LayerHeader(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ipv4Options = try c.decodeIfPresent([IPv4Option].self, forKey: .ipv4Options)
        ipv6Options = try c.decodeIfPresent([IPv6Option].self, forKey: .ipv6Options)
        tcpOptions = try c.decodeIfPresent([TCPOption].self, forKey: .tcpOptions)
        ndOptions = try c.decodeIfPresent([NDOption].self, forKey: .ndOptions)
        geneveOptions = try c.decodeIfPresent([GeneveOption].self, forKey: .geneveOptions)
        dhcpOptions = try c.decodeIfPresent([DHCPOption].self, forKey: .dhcpOptions)
        questions = try c.decodeIfPresent([DNSQuestion].self, forKey: .questions)
        answers = try c.decodeIfPresent([DNSResourceRecord].self, forKey: .answers)
        authorities = try c.decodeIfPresent([DNSResourceRecord].self, forKey: .authorities)
        additionals = try c.decodeIfPresent([DNSResourceRecord].self, forKey: .additionals)
        quoted = try c.decodeIfPresent([LayerDetail].self, forKey: .quoted)
        hex = try c.decodeIfPresent(String.self, forKey: .hex)
    }

    public func encode(to encoder: any Encoder) throws {
        try header.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(ipv4Options, forKey: .ipv4Options)
        try c.encodeIfPresent(ipv6Options, forKey: .ipv6Options)
        try c.encodeIfPresent(tcpOptions, forKey: .tcpOptions)
        try c.encodeIfPresent(ndOptions, forKey: .ndOptions)
        try c.encodeIfPresent(geneveOptions, forKey: .geneveOptions)
        try c.encodeIfPresent(dhcpOptions, forKey: .dhcpOptions)
        try c.encodeIfPresent(questions, forKey: .questions)
        try c.encodeIfPresent(answers, forKey: .answers)
        try c.encodeIfPresent(authorities, forKey: .authorities)
        try c.encodeIfPresent(additionals, forKey: .additionals)
        try c.encodeIfPresent(quoted, forKey: .quoted)
        try c.encodeIfPresent(hex, forKey: .hex)
    }
}

extension LayerHeader: Codable {
    enum ProtocolKey: String, CodingKey { case layer }

    /// Reads `"layer"` (the protocol) and then the header's own fields from the same JSON object.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: ProtocolKey.self)
        switch try c.decode(ProtocolID.self, forKey: .layer) {
        case .ethernet: self = .ethernet(try EthernetHeader(from: decoder))
        case .vlan: self = .vlan(try VLANTag(from: decoder))
        case .linuxSLL: self = .linuxSLL(try LinuxSLLHeader(from: decoder))
        case .linuxSLL2: self = .linuxSLL2(try LinuxSLL2Header(from: decoder))
        case .nullLoopback: self = .nullLoopback(try NullLoopbackHeader(from: decoder))
        case .arp: self = .arp(try ARPPacket(from: decoder))
        case .ipv4: self = .ipv4(try IPv4Header(from: decoder))
        case .ipv6: self = .ipv6(try IPv6Header(from: decoder))
        case .ipv6Extension: self = .ipv6Extension(try IPv6ExtensionHeader(from: decoder))
        case .icmp: self = .icmp(try ICMPHeader(from: decoder))
        case .icmpv6: self = .icmpv6(try ICMPv6Header(from: decoder))
        case .udp: self = .udp(try UDPHeader(from: decoder))
        case .tcp: self = .tcp(try TCPHeader(from: decoder))
        case .gre: self = .gre(try GREHeader(from: decoder))
        case .vxlan: self = .vxlan(try VXLANHeader(from: decoder))
        case .geneve: self = .geneve(try GeneveHeader(from: decoder))
        case .dhcp: self = .dhcp(try DHCPMessage(from: decoder))
        case .dns: self = .dns(try DNSMessage(from: decoder))
        case .payload: self = .payload(try PayloadLayer(from: decoder))
        }
    }

    /// Writes `"layer"` (the protocol) and the header's fields into one JSON object.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: ProtocolKey.self)
        try c.encode(protocolID, forKey: .layer)
        switch self {
        case .ethernet(let h): try h.encode(to: encoder)
        case .vlan(let h): try h.encode(to: encoder)
        case .linuxSLL(let h): try h.encode(to: encoder)
        case .linuxSLL2(let h): try h.encode(to: encoder)
        case .nullLoopback(let h): try h.encode(to: encoder)
        case .arp(let h): try h.encode(to: encoder)
        case .ipv4(let h): try h.encode(to: encoder)
        case .ipv6(let h): try h.encode(to: encoder)
        case .ipv6Extension(let h): try h.encode(to: encoder)
        case .icmp(let h): try h.encode(to: encoder)
        case .icmpv6(let h): try h.encode(to: encoder)
        case .udp(let h): try h.encode(to: encoder)
        case .tcp(let h): try h.encode(to: encoder)
        case .gre(let h): try h.encode(to: encoder)
        case .vxlan(let h): try h.encode(to: encoder)
        case .geneve(let h): try h.encode(to: encoder)
        case .dhcp(let h): try h.encode(to: encoder)
        case .dns(let h): try h.encode(to: encoder)
        case .payload(let h): try h.encode(to: encoder)
        }
    }
}

extension Packet {
    /// Every field of every layer, variable parts decoded. `frame` must be the bytes this packet
    /// was decoded from. A variable part that turns out broken (a DNS name pointing outside the
    /// message) ends that part and is reported in `issue` when decoding found nothing earlier.
    public func detail(in frame: UnsafeRawBufferPointer, seconds: Int64? = nil, nanoseconds: Int32? = nil) -> PacketDetail {
        precondition(capturedLength <= frame.count, "detail(in:) needs the frame the packet was decoded from")
        var firstIssue = issue
        let layers = Self.details(of: self.layers, frame, issue: &firstIssue)
        return PacketDetail(seconds: seconds, nanoseconds: nanoseconds, linkType: linkType.rawValue, capturedLength: capturedLength,
                            wireLength: wireLength, layers: layers, issue: firstIssue, summary: summary(in: frame),
                            identities: identities(in: frame))
    }

    static func details(of layers: LayerStack, _ b: UnsafeRawBufferPointer, issue: inout DecodeError?) -> [LayerDetail] {
        var out: [LayerDetail] = []
        func attempt<T>(_ read: () throws(DecodeError) -> T) -> T? {
            do { return try read() } catch {
                if issue == nil { issue = error }
                return nil
            }
        }
        for layer in layers {
            let header = layer.header(in: b)
            var d = LayerDetail(header: header)
            switch header {
            case .ipv4(let h):
                if !h.options.isEmpty { d.ipv4Options = attempt { () throws(DecodeError) in try IPv4Option.all(in: b, of: h) } }
            case .ipv6Extension(let h):
                let options = attempt { () throws(DecodeError) in try IPv6Option.all(in: b, of: h) }
                if let options, !options.isEmpty { d.ipv6Options = options }
            case .tcp(let h):
                if !h.options.isEmpty { d.tcpOptions = attempt { () throws(DecodeError) in try TCPOption.all(in: b, of: h) } }
            case .icmp(let h):
                if let quoted = h.quotedPacket(in: b) {
                    var ignored: DecodeError?
                    d.quoted = details(of: quoted.layers, b, issue: &ignored)
                }
            case .icmpv6(let h):
                if !h.options.isEmpty { d.ndOptions = attempt { () throws(DecodeError) in try NDOption.all(in: b, of: h) } }
                if let quoted = h.quotedPacket(in: b) {
                    var ignored: DecodeError?
                    d.quoted = details(of: quoted.layers, b, issue: &ignored)
                }
            case .geneve(let h):
                if !h.options.isEmpty { d.geneveOptions = attempt { () throws(DecodeError) in try GeneveOption.all(in: b, of: h) } }
            case .dhcp(let h):
                if h.hasMagicCookie { d.dhcpOptions = attempt { () throws(DecodeError) in try DHCPOption.all(in: b, of: h) } }
            case .dns(let h):
                d.questions = attempt { () throws(DecodeError) in try h.questions(in: b) }
                for section in DNSSection.allCases {
                    let (records, error) = h.readableRecords(section, in: b)
                    if let error, issue == nil { issue = error }
                    switch section {
                    case .answer: d.answers = records
                    case .authority: d.authorities = records
                    case .additional: d.additionals = records
                    }
                }
            case .payload(let p):
                let end = min(p.offset + min(p.length, 64), b.count)
                if p.offset < end { d.hex = b.hexString(p.offset..<end, separator: "") }
            default:
                break
            }
            out.append(d)
        }
        return out
    }
}

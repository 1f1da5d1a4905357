import HopscopeModel

// The text syntax of match and target values, on strings: the general (slow) path the byte
// reader falls back to for anything but the plain forms it decodes itself, so that both give
// the same answer for every input.

extension RuleReader {
    /// Options each modelled match module owns.
    static let moduleOptions: [String: Set<String>] = [
        "tcp": ["--sport", "--source-port", "--dport", "--destination-port", "--tcp-flags", "--syn", "--tcp-option"],
        "udp": ["--sport", "--source-port", "--dport", "--destination-port"],
        "icmp": ["--icmp-type"],
        "icmp6": ["--icmpv6-type"],
        "multiport": ["--sports", "--source-ports", "--dports", "--destination-ports", "--ports"],
        "state": ["--state"],
        "conntrack": ["--ctstate", "--ctstatus", "--ctdir", "--ctproto", "--ctorigsrc", "--ctorigdst", "--ctreplsrc",
                      "--ctrepldst", "--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport", "--ctexpire"],
        "mac": ["--mac-source"],
        "physdev": ["--physdev-in", "--physdev-out", "--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged"],
        "comment": ["--comment"],
        "set": ["--match-set", "--set", "--return-nomatch", "--update-counters", "--update-subcounters",
                "--packets-eq", "--packets-lt", "--packets-gt", "--bytes-eq", "--bytes-lt", "--bytes-gt"],
        "addrtype": ["--src-type", "--dst-type", "--limit-iface-in", "--limit-iface-out"],
        "mark": ["--mark"],
        "connmark": ["--mark"],
        "iprange": ["--src-range", "--dst-range"],
        "limit": ["--limit", "--limit-burst"],
        "owner": ["--uid-owner", "--gid-owner", "--socket-exists", "--suppl-groups"],
    ]

    /// Options each modelled target takes.
    static let targetOptions: [String: Set<String>] = [
        "ACCEPT": [], "DROP": [], "RETURN": [], "NOTRACK": [],
        "REJECT": ["--reject-with"],
        "SNAT": ["--to-source", "--random", "--random-fully", "--persistent"],
        "DNAT": ["--to-destination", "--random", "--persistent"],
        "MASQUERADE": ["--to-ports", "--random", "--random-fully"],
        "REDIRECT": ["--to-ports", "--random"],
        "MARK": ["--set-xmark", "--set-mark", "--and-mark", "--or-mark", "--xor-mark"],
        "CONNMARK": ["--set-xmark", "--set-mark", "--save-mark", "--restore-mark", "--nfmask", "--ctmask", "--mask",
                     "--and-mark", "--or-mark", "--xor-mark"],
        "CHECKSUM": ["--checksum-fill"],
        "LOG": ["--log-prefix", "--log-level", "--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid", "--log-macdecode"],
        "CT": ["--notrack", "--zone", "--zone-orig", "--zone-reply", "--helper", "--ctevents", "--expevents", "--timeout"],
    ]

    static func markChange(_ option: String, _ value: UInt32, _ mask: UInt32, hadMask: Bool) -> MarkChange {
        switch option {
        case "--set-mark": return MarkChange(clear: (hadMask ? mask : .max) | value, xor: value)
        case "--and-mark": return MarkChange(clear: ~value, xor: 0)
        case "--or-mark": return MarkChange(clear: value, xor: value)
        case "--xor-mark": return MarkChange(clear: 0, xor: value)
        default: return MarkChange(clear: hadMask ? mask : .max, xor: value)
        }
    }

    static func number(_ s: Substring) -> UInt32? {
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt32(s.dropFirst(2), radix: 16) }
        return UInt32(s)
    }

    /// `VALUE[/MASK]`; the mask defaults to all ones.
    static func valueMask(_ s: String) -> (UInt32, UInt32)? {
        let parts = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let v = number(parts[0]) else { return nil }
        if parts.count == 1 { return (v, .max) }
        guard let m = number(parts[1]) else { return nil }
        return (v, m)
    }

    static let serviceNames: [String: UInt16] = [
        "ssh": 22, "http": 80, "https": 443, "domain": 53, "bootps": 67, "bootpc": 68, "ntp": 123, "telnet": 23, "ftp": 21, "smtp": 25,
    ]

    /// `PORT`, `PORT:PORT`, `:PORT` or `PORT:`.
    static func portRange(_ s: String) -> PortRange? {
        func port(_ p: Substring, default d: UInt16) -> UInt16? { p.isEmpty ? d : (UInt16(p) ?? serviceNames[String(p)]) }
        guard let colon = s.firstIndex(of: ":") else {
            guard !s.isEmpty, let p = port(s[...], default: 0) else { return nil }
            return PortRange(p, p)
        }
        guard let lo = port(s[..<colon], default: 0), let hi = port(s[s.index(after: colon)...], default: .max), lo <= hi else { return nil }
        return PortRange(lo, hi)
    }

    static let protocolNames: [String: UInt8] = [
        "all": 0, "tcp": 6, "udp": 17, "udplite": 136, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "esp": 50, "ah": 51,
        "sctp": 132, "mh": 135, "gre": 47, "vrrp": 112, "igmp": 2, "ipip": 4, "ospf": 89, "pim": 103,
    ]

    static func protocolNumber(_ s: String) -> UInt8? {
        switch s {
        case "tcp": return 6
        case "udp": return 17
        case "icmp": return 1
        default: return protocolNames[s.lowercased()] ?? UInt8(s)
        }
    }

    static let tcpFlagNames: [String: UInt8] = [
        "FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80, "ALL": 0xFF, "NONE": 0,
    ]

    static func tcpFlags(_ s: String) -> UInt8? {
        var v: UInt8 = 0
        for name in s.split(separator: ",") {
            guard let b = tcpFlagNames[String(name).uppercased()] else { return nil }
            v |= b
        }
        return v
    }

    static let icmpNames: [String: (UInt8, UInt8?)] = [
        "echo-reply": (0, nil), "pong": (0, nil), "destination-unreachable": (3, nil), "network-unreachable": (3, 0),
        "host-unreachable": (3, 1), "protocol-unreachable": (3, 2), "port-unreachable": (3, 3), "fragmentation-needed": (3, 4),
        "source-quench": (4, nil), "redirect": (5, nil), "echo-request": (8, nil), "ping": (8, nil), "router-advertisement": (9, nil),
        "router-solicitation": (10, nil), "time-exceeded": (11, nil), "ttl-exceeded": (11, nil), "parameter-problem": (12, nil),
        "timestamp-request": (13, nil), "timestamp-reply": (14, nil),
    ]
    static let icmp6Names: [String: (UInt8, UInt8?)] = [
        "destination-unreachable": (1, nil), "packet-too-big": (2, nil), "time-exceeded": (3, nil), "parameter-problem": (4, nil),
        "echo-request": (128, nil), "echo-reply": (129, nil), "router-solicitation": (133, nil), "router-advertisement": (134, nil),
        "neighbour-solicitation": (135, nil), "neighbor-solicitation": (135, nil), "neighbour-advertisement": (136, nil),
        "neighbor-advertisement": (136, nil), "redirect": (137, nil),
    ]

    /// `any`, `TYPE`, `TYPE/CODE` or a name; a type alone matches every code.
    static func icmpType(_ s: String, v6: Bool) -> (UInt8?, ClosedRange<UInt8>)? {
        if s == "any" { return (nil, 0...255) }
        if let (t, c) = (v6 ? icmp6Names : icmpNames)[s] { return (t, c.map { $0...$0 } ?? 0...255) }
        let parts = s.split(separator: "/", maxSplits: 1)
        guard let t = UInt8(parts[0]) else { return nil }
        if parts.count == 1 { return (t, 0...255) }
        guard let c = UInt8(parts[1]) else { return nil }
        return (t, c...c)
    }

    /// `ADDR[-ADDR][:PORT[-PORT]]` (IPv6 addresses in brackets when a port follows).
    static func natRange(_ s: String) -> NATRange? {
        var addrPart = Substring(s)
        var portPart: Substring?
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            addrPart = s[s.index(after: s.startIndex)..<close]
            let rest = s[s.index(after: close)...]
            if rest.hasPrefix(":") { portPart = rest.dropFirst() } else if !rest.isEmpty { return nil }
        } else if s.filter({ $0 == ":" }).count == 1 {
            let parts = s.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            addrPart = parts[0]
            portPart = parts[1]
        } else if s.hasPrefix(":") {
            addrPart = ""
            portPart = s.dropFirst()
        }
        var low: IPAddress?, high: IPAddress?
        if !addrPart.isEmpty {
            let ends = addrPart.split(separator: "-", maxSplits: 1)
            guard let l = IPAddress(ends[0]) else { return nil }
            low = l
            if ends.count == 2 {
                guard let h = IPAddress(ends[1]) else { return nil }
                high = h
            } else {
                high = l
            }
        }
        var ports: PortRange?
        if let portPart {
            guard let r = portRange(portPart.replacingOccurrences(of: "-", with: ":")) else { return nil }
            ports = r
        }
        return NATRange(low: low, high: high, ports: ports)
    }
}

extension RuleReader {
    /// `-s`/`-d` in any form `IPPrefix` reads; nil for a legal dotted mask that is not
    /// contiguous (not modelled). Throws for anything else, at `column`.
    static func address(_ text: String, column: Int) throws(Failure) -> IPPrefix? {
        if let slash = text.utf8.firstIndex(of: UInt8(ascii: "/")) {
            let addr = text[..<slash], len = text[text.utf8.index(after: slash)...]
            if let a = IPAddress(addr), let n = Int(len), n >= 0, n <= a.bitWidth { return IPPrefix(address: a, length: n) }
        } else if let a = IPAddress(text) {
            return IPPrefix(address: a, length: a.bitWidth)
        }
        if let p = IPPrefix(text) { return p }
        let parts = text.split(separator: "/", maxSplits: 1)
        if parts.count == 2, IPAddress(parts[0]) != nil, IPAddress(parts[1]) != nil { return nil }
        throw Failure(column: column, message: "'\(text)' is not an address or prefix")
    }

    /// The action of a NAT or mark target from its options (each option with its first value).
    static func targetAction(name: String, options: [(option: String, value: String?)],
                             bad: (String) -> Failure) throws(Failure) -> TargetAction {
        func value(_ o: String) -> String? { options.first { $0.option == o }?.value }
        func has(_ o: String) -> Bool { options.contains { $0.option == o } }
        switch name {
        case "SNAT", "DNAT":
            let o = name == "SNAT" ? "--to-source" : "--to-destination"
            guard let spec = value(o), var r = natRange(spec) else { throw bad("\(o) needs ADDR[-ADDR][:PORT[-PORT]]") }
            r.randomizesPorts = has("--random-fully") || has("--random")
            return name == "SNAT" ? .snat(r) : .dnat(r)
        case "MASQUERADE", "REDIRECT":
            var ports: PortRange?
            if let p = value("--to-ports") {
                guard let r = portRange(p.replacingOccurrences(of: "-", with: ":")) else { throw bad("--to-ports needs PORT[-PORT]") }
                ports = r
            }
            return name == "MASQUERADE" ? .masquerade(ports: ports) : .redirect(ports: ports)
        case "MARK":
            guard let o = options.first, let v = o.value, let (value, mask) = valueMask(v) else { throw bad("needs --set-xmark VALUE[/MASK]") }
            return .mark(markChange(o.option, value, mask, hadMask: v.contains("/")))
        case "CONNMARK":
            func mask(_ o: String) throws(Failure) -> UInt32? {
                guard let v = value(o) else { return nil }
                guard let (m, _) = valueMask(v) else { throw bad("\(o) needs a number") }
                return m
            }
            let common = try mask("--mask")
            if has("--save-mark") {
                return .connectionMark(.save(nfmask: try mask("--nfmask") ?? common ?? .max, ctmask: try mask("--ctmask") ?? common ?? .max))
            }
            if has("--restore-mark") {
                return .connectionMark(.restore(nfmask: try mask("--nfmask") ?? common ?? .max, ctmask: try mask("--ctmask") ?? common ?? .max))
            }
            guard let o = options.first, let v = o.value, let (value, m) = valueMask(v) else { throw bad("needs --set-xmark, --save-mark or --restore-mark") }
            return .connectionMark(.set(markChange(o.option, value, m, hadMask: v.contains("/"))))
        default:
            return .unsupported("target \(name) is not modelled")
        }
    }
}

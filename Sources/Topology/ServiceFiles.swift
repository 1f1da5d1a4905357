import HopscopeModel

/// A DHCP server: a dnsmasq process with its namespace, the interfaces it serves, its ranges and
/// its hosts, options and leases files, parsed.
public struct DHCPServer: Hashable, Sendable, Codable {
    /// One `--dhcp-hostsfile` line: `MAC,NAME,IP` as Neutron writes it (tags and lease times kept in `raw`).
    public struct Host: Hashable, Sendable, Codable {
        public var mac: MACAddress?
        public var name: String?
        public var address: IPAddress?
        public var raw: String
        public var line: Int
    }
    /// One leases file line: `EXPIRY MAC IP NAME CLIENT-ID`.
    public struct Lease: Hashable, Sendable, Codable {
        public var mac: MACAddress?
        public var address: IPAddress?
        public var name: String?
        public var raw: String
    }

    public var namespace: NamespaceID
    public var pid: Int32
    public var arguments: [String]
    /// `--interface` values (dnsmasq serves only these when given).
    public var interfaces: [String]
    /// `--dhcp-range` values as given.
    public var ranges: [String]
    public var hosts: [Host]
    public var hostsFile: String?
    public var leases: [Lease]
    public var optionLines: [String]
    public var warnings: [String]

    /// Parses a collected dnsmasq: command line options and the files they name.
    public init(_ d: DnsmasqSnapshot, namespace: NamespaceID) {
        self.namespace = namespace
        pid = d.pid
        arguments = d.arguments
        interfaces = d.option("interface")
        ranges = d.option("dhcp-range")
        warnings = d.warnings
        hosts = []
        leases = []
        optionLines = []
        if let f = d.file(for: "dhcp-hostsfile") {
            hostsFile = f.path
            if let text = f.content {
                for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let t = line.trimmingCharacters(in: .whitespaces)
                    if t.isEmpty || t.hasPrefix("#") { continue }
                    hosts.append(DHCPServer.parseHost(t, line: i + 1))
                }
            } else {
                warnings.append("hosts file \(f.path) could not be read: \(f.error ?? "unknown error")")
            }
        }
        if let text = d.file(for: "dhcp-leasefile")?.content {
            for line in text.split(separator: "\n") {
                let w = line.split(separator: " ").map(String.init)
                guard w.count >= 3 else { continue }
                leases.append(Lease(mac: MACAddress(w[1]), address: IPAddress(w[2]), name: w.count > 3 && w[3] != "*" ? w[3] : nil, raw: String(line)))
            }
        }
        if let text = d.file(for: "dhcp-optsfile")?.content {
            optionLines = text.split(separator: "\n").map(String.init)
        }
    }

    static func parseHost(_ text: String, line: Int) -> Host {
        var host = Host(raw: text, line: line)
        for part in text.split(separator: ",") {
            let p = part.trimmingCharacters(in: .whitespaces)
            if p.hasPrefix("set:") || p.hasPrefix("tag:") || p.hasPrefix("id:") { continue }
            if host.mac == nil, let m = MACAddress(p) { host.mac = m; continue }
            let bare = p.hasPrefix("[") && p.hasSuffix("]") ? String(p.dropFirst().dropLast()) : p
            if host.address == nil, let a = IPAddress(bare) { host.address = a; continue }
            if host.name == nil, p.first?.isLetter == true, p != "infinite", p != "ignore" { host.name = p }
        }
        return host
    }
}

/// What a libvirt domain XML says about a guest: its name and UUID and, per interface, the MAC
/// address, the host device (`target dev`, the tap) and the bridge it is plugged into.
public struct LibvirtDomain: Hashable, Sendable, Codable {
    public struct Interface: Hashable, Sendable, Codable {
        public var mac: MACAddress?
        public var targetDevice: String?
        public var sourceBridge: String?
        /// `interfaceid` of `<virtualport type='openvswitch'>`: the Neutron port id.
        public var interfaceID: String?
    }
    public var path: String
    public var name: String?
    public var uuid: String?
    public var interfaces: [Interface]

    /// Reads the few elements Hopscope needs from domain XML (a scan for elements and attributes,
    /// not a general XML parser: libvirt writes them one per line, attributes quoted).
    public init(_ file: LibvirtDomainFile) {
        path = file.path
        let xml = file.xml
        name = LibvirtDomain.elementText("name", in: xml)
        uuid = LibvirtDomain.elementText("uuid", in: xml)
        interfaces = []
        var rest = Substring(xml)
        while let open = rest.range(of: "<interface"), let close = rest[open.upperBound...].range(of: "</interface>") {
            let body = rest[open.upperBound..<close.lowerBound]
            interfaces.append(Interface(mac: LibvirtDomain.attribute("address", of: "mac", in: body).flatMap { MACAddress($0) },
                                        targetDevice: LibvirtDomain.attribute("dev", of: "target", in: body),
                                        sourceBridge: LibvirtDomain.attribute("bridge", of: "source", in: body),
                                        interfaceID: LibvirtDomain.attribute("interfaceid", of: "parameters", in: body)))
            rest = rest[close.upperBound...]
        }
    }

    /// The text of the first `<tag>text</tag>` at the domain level (before any device).
    static func elementText(_ tag: String, in xml: String) -> String? {
        let head = xml.range(of: "<devices").map { xml[..<$0.lowerBound] } ?? Substring(xml)
        guard let open = head.range(of: "<\(tag)>"), let close = head[open.upperBound...].range(of: "</\(tag)>") else { return nil }
        return head[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The value of `attribute` on the first `<element ...>` in `text`.
    static func attribute(_ attribute: String, of element: String, in text: Substring) -> String? {
        guard let open = text.range(of: "<\(element) ") ?? text.range(of: "<\(element)\t"),
              let end = text[open.upperBound...].range(of: ">") else { return nil }
        let tag = text[open.upperBound..<end.lowerBound]
        for quote in ["'", "\""] {
            if let a = tag.range(of: "\(attribute)=\(quote)"), let b = tag[a.upperBound...].range(of: quote) {
                return String(tag[a.upperBound..<b.lowerBound])
            }
        }
        return nil
    }
}

/// Reads the Neutron meaning of names, as labels only: the port a device belongs to (Neutron
/// names devices `PREFIX` + the first 11 characters of the port UUID), the router of a
/// `qrouter-<uuid>` namespace, the network of a `qdhcp-<uuid>` one. The walk never depends on
/// these; they help find an instance and say what a hop is in the operator's words.
public enum NeutronLabels {
    /// Device name prefixes and what Neutron uses them for.
    public static let devicePrefixes: [(prefix: String, role: String)] = [
        ("tap", "tap"), ("qvb", "veth qvb"), ("qvo", "veth qvo"), ("qbr", "Linux bridge qbr"),
        ("qr-", "router qr-"), ("qg-", "router qg-"), ("ns-", "DHCP ns-"), ("sg-", "DVR sg-"),
        ("fg-", "DVR fg-"), ("rfp-", "DVR rfp-"), ("fpr-", "DVR fpr-"), ("ha-", "HA ha-"),
    ]

    /// The port id prefix (11 characters, `27bbe0bb-be`) a Neutron device name carries, with the
    /// device's Neutron role; nil for names that do not follow the pattern.
    public static func port(ofDevice name: String) -> (portIDPrefix: String, role: String)? {
        for (prefix, role) in devicePrefixes where name.hasPrefix(prefix) {
            let stem = String(name.dropFirst(prefix.count))
            if isPortStem(stem) { return (stem, role) }
        }
        return nil
    }

    /// True for `xxxxxxxx-xx` with hex digits: the first 11 characters of a UUID.
    static func isPortStem(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 11, u[8] == UInt8(ascii: "-") else { return false }
        return u.enumerated().allSatisfy { i, c in i == 8 || isHex(c) }
    }

    static func isHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) }

    /// True for a lower-case UUID.
    public static func isUUID(_ s: some StringProtocol) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 36 else { return false }
        return u.enumerated().allSatisfy { i, c in [8, 13, 18, 23].contains(i) ? c == UInt8(ascii: "-") : isHex(c) }
    }

    /// The UUID after `kind-` in a namespace label (`qrouter-<uuid>`, also behind a lab prefix
    /// such as `lab-qrouter-<uuid>`).
    public static func uuid(after kind: String, inNamespace label: String) -> String? {
        guard let r = label.range(of: kind + "-") else { return nil }
        if r.lowerBound != label.startIndex, label[label.index(before: r.lowerBound)] != "-" { return nil }
        let rest = label[r.upperBound...]
        return isUUID(rest) ? String(rest) : nil
    }

    /// `qrouter`, `qdhcp`, `snat` or `fip` with the UUID, for a Neutron agent namespace.
    public static func agentNamespace(_ label: String) -> (kind: String, id: String)? {
        for kind in ["qrouter", "qdhcp", "snat", "fip"] {
            if let id = uuid(after: kind, inNamespace: label) { return (kind, id) }
        }
        return nil
    }
}

import HopscopeModel

/// Parsers for the other OVS command outputs the evaluator needs: `ovs-ofctl show` (OpenFlow
/// port numbers, names and flags) and `ovs-appctl fdb/show` (the MAC learning table).
public enum OfctlOutput {
    /// An output line that could not be read.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var command: String
        public var line: Int
        public var message: String
        public var description: String { "\(command) output line \(line): \(message)" }
    }

    /// Parses `ovs-ofctl show BRIDGE`: lines like ` 1(patch-tun): addr:3a:0b:c5:6f:2a:81` followed
    /// by `config:` and `state:` lines. Header and feature lines are skipped.
    public static func parseShow(_ text: String) throws -> [OVSOpenFlowPort] {
        var ports: [OVSOpenFlowPort] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " }
            if let open = line.firstIndex(of: "("), raw.hasPrefix(" "), !raw.hasPrefix("  "),
               let close = line.range(of: "): ")?.lowerBound ?? line.range(of: "):")?.lowerBound {
                let numberText = line[..<open]
                let number: Int
                if numberText == "LOCAL" { number = 65534 } else if let v = Int(numberText) { number = v } else {
                    throw ParseError(command: "ovs-ofctl show", line: n + 1, message: "port number '\(numberText)' is not a number or LOCAL")
                }
                let name = String(line[line.index(after: open)..<close])
                var mac: MACAddress?
                if let addr = line.range(of: "addr:") { mac = MACAddress(line[addr.upperBound...].prefix(17)) }
                ports.append(OVSOpenFlowPort(number: number, name: name, mac: mac))
            } else if line.hasPrefix("config:") || line.hasPrefix("state:"), !ports.isEmpty {
                let isConfig = line.hasPrefix("config:")
                let flags = line.dropFirst(isConfig ? 7 : 6).split(separator: " ").map(String.init).filter { $0 != "0" }
                if isConfig { ports[ports.count - 1].config = flags } else { ports[ports.count - 1].state = flags }
            }
        }
        return ports
    }

    /// Parses `ovs-appctl fdb/show BRIDGE`: ` port  VLAN  MAC                Age` then one entry per
    /// line (`    2     1  fa:16:3e:06:b5:50    3`); LOCAL ports are 65534. An entry with a MAC
    /// that cannot be read throws, naming the line.
    public static func parseFDB(_ text: String) throws -> [OVSFDBEntry] {
        var out: [OVSFDBEntry] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let cols = raw.split(separator: " ", omittingEmptySubsequences: true)
            guard cols.count >= 3 else { continue }
            if cols[0] == "port" { continue }
            let port: Int
            if cols[0] == "LOCAL" { port = 65534 } else if let p = Int(cols[0]) { port = p } else {
                throw ParseError(command: "ovs-appctl fdb/show", line: n + 1, message: "port '\(cols[0])' is not a number or LOCAL")
            }
            guard let vlan = Int(cols[1]) else {
                throw ParseError(command: "ovs-appctl fdb/show", line: n + 1, message: "VLAN '\(cols[1])' is not a number")
            }
            guard let mac = MACAddress(cols[2]) else {
                throw ParseError(command: "ovs-appctl fdb/show", line: n + 1, message: "'\(cols[2])' is not a MAC address")
            }
            out.append(OVSFDBEntry(port: port, vlan: vlan, mac: mac, age: cols.count > 3 ? Int(cols[3]) : nil))
        }
        return out
    }
}

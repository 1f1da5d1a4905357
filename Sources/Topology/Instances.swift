import Foundation
import HopscopeModel

/// A guest (Nova instance) as the topology knows it: the host-side device facing it (the tap), the
/// interface inside it when it is a namespace (the lab's instances), its OVS port, and every fact
/// about it with the source that gave it.
public struct Instance: Hashable, Sendable, Codable {
    /// How it is called: the libvirt domain name, else the instance namespace's label, else the tap.
    public var name: String
    public var node: String
    /// The tap device on the host (a tun/tap held by the hypervisor, or the veth of a lab instance).
    public var tap: InterfaceID
    /// The interface inside the instance, when the instance is a namespace Hopscope can read.
    public var nic: InterfaceID?
    /// The OVS port the instance is plugged into (the qvo of a hybrid plug, or the tap itself).
    public var ovsPort: OVSPortID?
    public var facts: [InstanceFact]

    /// Distinct values of one field, in the order found.
    public func values(_ field: InstanceFact.Field) -> [String] {
        var out: [String] = []
        for f in facts where f.field == field && !out.contains(f.value) { out.append(f.value) }
        return out
    }

    public var addresses: [IPAddress] { values(.ip).compactMap { IPAddress($0) } }
    public var macs: [MACAddress] { values(.mac).compactMap { MACAddress($0) } }
    /// The instance's IPv4 address (the first one found).
    public var ipv4: IPAddress? { addresses.first { $0.isIPv4 } }
    public var mac: MACAddress? { macs.first }
    /// True when the instance is a guest behind a tun/tap device: nothing inside can be read.
    public var isGuest: Bool { nic == nil }
}

/// Why an instance could not be picked.
public enum InstanceLookupError: Error, CustomStringConvertible, Equatable {
    case notFound(String, known: [String])
    case ambiguous(String, candidates: [String])

    public var description: String {
        switch self {
        case .notFound(let q, let known):
            return "no instance matches \"\(q)\"" + (known.isEmpty ? " (the snapshots hold no instance: no tap device leads to a guest)"
                : "; instances: \(known.joined(separator: ", "))")
                + ". Give an IP, MAC, Neutron port id (or prefix), tap name, vm-uuid, libvirt domain name or instance namespace"
        case .ambiguous(let q, let c):
            return "\"\(q)\" matches \(c.count) instances; say which:\n" + c.map { "  \($0)" }.joined(separator: "\n")
        }
    }
}

extension Topology {
    /// Every instance of the snapshots: each tap device that leads to a guest (a tun/tap device in
    /// tap mode that is not an Open vSwitch internal port, or a veth into a namespace that is no
    /// router, DHCP server or switch and whose host side carries Neutron's marks: a `tap` name, a
    /// port with `vm-uuid`, or a libvirt interface), with the facts every source gives about it.
    public var instances: [Instance] {
        var out: [Instance] = []
        let dhcpNamespaces = Set(dhcpServers.map(\.namespace))
        for iid in interfaces.keys.sorted() {
            guard let i = interfaces[iid] else { continue }
            let port = ovsPortReached(from: iid)
            let libvirt = libvirtDomains.first { $0.snapshot == iid.namespace.snapshot && $0.domain.interfaces.contains { $0.targetDevice == i.name } }
            var nic: InterfaceID?
            if i.link.kind == .tun, i.link.tunTap?.mode == "tap" {
                if let p = i.ovsPort, self.port(p)?.interface.type == "internal" { continue }
                guard port != nil || libvirt != nil || i.bridgeMaster != nil else { continue }
            } else if i.link.kind == .veth, let peer = i.vethPeer, peer.namespace != iid.namespace,
                      let peerNS = namespaces[peer.namespace], !peerNS.isRouter, peerNS.switchIndex == nil,
                      !dhcpNamespaces.contains(peer.namespace) {
                let neutronMarked = i.neutronRole == "tap" || libvirt != nil
                    || port.map { self.port($0)?.interface.externalIDs["vm-uuid"] != nil } == true
                guard neutronMarked, i.bridgeMaster != nil || i.ovsPort != nil else { continue }
                nic = peer
            } else {
                continue
            }
            out.append(instance(tap: iid, nic: nic, port: port, libvirt: libvirt?.domain))
        }
        return out
    }

    /// The OVS port a tap leads to: itself, or through its Linux bridge (qbr) and a veth pair (qvb/qvo).
    func ovsPortReached(from tap: InterfaceID) -> OVSPortID? {
        guard let i = interfaces[tap] else { return nil }
        if let p = i.ovsPort { return p }
        guard let bridge = i.bridgeMaster else { return nil }
        for (pid, other) in interfaces where other.bridgeMaster == bridge && pid != tap {
            if let peer = other.vethPeer, let p = interfaces[peer]?.ovsPort { return p }
        }
        return nil
    }

    func instance(tap: InterfaceID, nic: InterfaceID?, port: OVSPortID?, libvirt: LibvirtDomain?) -> Instance {
        var facts: [InstanceFact] = []
        let tapNode = interfaces[tap]!
        let where_ = "\(tapNode.name)@\(tap.namespace.label)"
        facts.append(InstanceFact(field: .tap, value: tapNode.name, source: "device \(where_)"))
        if let nic, let n = interfaces[nic] {
            facts.append(InstanceFact(field: .namespace, value: nic.namespace.label, source: "veth peer of \(where_)"))
            if let m = n.link.mac { facts.append(InstanceFact(field: .mac, value: m.description, source: "interface \(n.name) in \(nic.namespace.label)")) }
            for a in n.addresses where a.address.isIPv4 || !(a.address.ipv6?.isLinkLocal ?? false) {
                facts.append(InstanceFact(field: .ip, value: a.address.description, source: "interface \(n.name) in \(nic.namespace.label)"))
            }
        }
        if let port, let p = self.port(port) {
            let ids = p.interface.externalIDs
            let at = "OVS external_ids of \(port.port) on \(switches[port.instance].node) \(port.bridge)"
            if let m = ids["attached-mac"].flatMap({ MACAddress($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) }) {
                facts.append(InstanceFact(field: .mac, value: m.description, source: "\(at) (attached-mac)"))
            }
            if let id = ids["iface-id"] { facts.append(InstanceFact(field: .portID, value: id, source: "\(at) (iface-id)")) }
            if let vm = ids["vm-uuid"] { facts.append(InstanceFact(field: .vmUUID, value: vm, source: "\(at) (vm-uuid)")) }
        }
        if let libvirt {
            let at = "libvirt \(libvirt.path)"
            if let n = libvirt.name { facts.append(InstanceFact(field: .domainName, value: n, source: at)) }
            if let u = libvirt.uuid { facts.append(InstanceFact(field: .vmUUID, value: u, source: at)) }
            for i in libvirt.interfaces where i.targetDevice == tapNode.name {
                if let m = i.mac { facts.append(InstanceFact(field: .mac, value: m.description, source: at)) }
                if let id = i.interfaceID { facts.append(InstanceFact(field: .portID, value: id, source: "\(at) (virtualport interfaceid)")) }
            }
        }
        if let stem = tapNode.neutronPort, !facts.contains(where: { $0.field == .portID }) {
            facts.append(InstanceFact(field: .portID, value: stem, source: "the name of \(where_) (first 11 characters of the port id)"))
        }
        // Addresses for a MAC from the services that hand them out or check them.
        let macs = Set(facts.filter { $0.field == .mac }.compactMap { MACAddress($0.value) })
        for d in dhcpServers where d.namespace.snapshot == tap.namespace.snapshot {
            for h in d.hosts {
                guard let m = h.mac, macs.contains(m), let a = h.address else { continue }
                facts.append(InstanceFact(field: .ip, value: a.description, source: "DHCP hosts file \(d.hostsFile ?? "?") line \(h.line) (dnsmasq in \(d.namespace.label))"))
            }
        }
        for (ip, rule) in antiSpoofingRules(in: tap.namespace, macs: macs) {
            facts.append(InstanceFact(field: .ip, value: ip.description, source: "security group rule in \(tap.namespace.label): \(rule)"))
        }
        for id in namespaceOrder where id.snapshot == tap.namespace.snapshot {
            for n in namespaces[id]!.inventory.neighbors {
                guard let m = n.mac, macs.contains(m), n.state.isUsable else { continue }
                facts.append(InstanceFact(field: .ip, value: n.address.description, source: "neighbour table of \(id.label): \(n.text)"))
            }
        }
        let name = facts.first { $0.field == .domainName }?.value ?? nic.map(\.namespace.label) ?? tapNode.name
        return Instance(name: name, node: namespaces[tap.namespace]?.node ?? "", tap: tap, nic: nic, ovsPort: port, facts: facts)
    }

    /// `-s IP -m mac --mac-source MAC` rules (Neutron's anti-spoofing chain) of a namespace, for
    /// the given MACs, from the index built once with the topology.
    func antiSpoofingRules(in ns: NamespaceID, macs: Set<MACAddress>) -> [(IPAddress, String)] {
        guard let byMAC = antiSpoofing[ns] else { return [] }
        return macs.sorted { $0.description < $1.description }.flatMap { byMAC[$0] ?? [] }
            .sorted { $0.line < $1.line }.map { ($0.address, $0.rule) }
    }

    /// Every `-s IP -m mac --mac-source MAC` rule of an iptables-save dump, by MAC.
    static func antiSpoofingIndex(_ text: String) -> [MACAddress: [AntiSpoofingRule]] {
        var out: [MACAddress: [AntiSpoofingRule]] = [:]
        for (n, line) in text.split(separator: "\n").enumerated() where line.contains("--mac-source") {
            let w = line.split(separator: " ")
            guard let mi = w.firstIndex(of: "--mac-source"), mi + 1 < w.count, let mac = MACAddress(w[mi + 1].lowercased()),
                  let si = w.firstIndex(of: "-s"), si + 1 < w.count else { continue }
            let src = w[si + 1]
            let address = src.hasSuffix("/32") || src.hasSuffix("/128") ? String(src.split(separator: "/")[0]) : String(src)
            guard let ip = IPAddress(address) else { continue }
            let rule = line.hasPrefix("[") ? String(line[(line.firstIndex(of: " ").map { line.index(after: $0) } ?? line.startIndex)...]) : String(line)
            out[mac, default: []].append(AntiSpoofingRule(address: ip, rule: rule, line: n))
        }
        return out
    }

    /// The instance `query` names: an IP or MAC address, a Neutron port id or its prefix (4
    /// characters at least), a tap name, a vm-uuid, a libvirt domain name, or the instance's
    /// namespace (its label, name, or short name after the lab prefix). Throws
    /// `InstanceLookupError` when none or several match.
    /// `among` is `instances` when the caller computed them already.
    public func findInstance(_ query: String, among known: [Instance]? = nil) throws -> Instance {
        let all = known ?? instances
        let q = query.lowercased()
        let matches: [Instance]
        if let ip = IPAddress(query) {
            matches = all.filter { $0.addresses.contains(ip) }
        } else if let mac = MACAddress(q) {
            matches = all.filter { $0.macs.contains(mac) }
        } else {
            let exact = all.filter { i in
                i.values(.tap).contains(query) || i.values(.domainName).contains(query) || i.values(.vmUUID).contains(q)
                    || i.values(.portID).contains(q) || i.values(.namespace).contains(query)
                    || i.nic.map { namespaces[$0.namespace]?.inventory.namespace.names.contains(query) == true } == true
            }
            if !exact.isEmpty {
                matches = exact
            } else {
                matches = all.filter { i in
                    (q.count >= 4 && (i.values(.portID).contains { $0.hasPrefix(q) } || i.values(.vmUUID).contains { $0.hasPrefix(q) }))
                        || i.values(.namespace).contains { $0.hasSuffix("-" + query) }
                }
            }
        }
        if matches.count == 1 { return matches[0] }
        if matches.isEmpty { throw InstanceLookupError.notFound(query, known: all.map(describe)) }
        throw InstanceLookupError.ambiguous(query, candidates: matches.map(describe))
    }

    /// One line naming an instance: name, node, tap, addresses, MAC, port id.
    public func describe(_ i: Instance) -> String {
        var parts = [i.name, "on \(i.node)", "tap \(interfaces[i.tap]?.name ?? "?")"]
        if !i.addresses.isEmpty { parts.append(i.addresses.map(\.description).joined(separator: ",")) }
        if let m = i.mac { parts.append(m.description) }
        if let p = i.values(.portID).first { parts.append("port \(p)") }
        // With several snapshots, the same names can come from different machines (or the same file twice).
        if snapshots.count > 1 {
            let s = snapshots[i.tap.namespace.snapshot]
            parts.append("(snapshot \(i.tap.namespace.snapshot + 1) of \(s.hostname), collected \(s.collectedAt.formatted(.iso8601)))")
        }
        return parts.joined(separator: "  ")
    }
}

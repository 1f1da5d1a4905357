import HopscopeModel
import Topology

extension PathTracer {
    /// What a device is, in the operator's words. Links decide first (an instance's NIC, its tap,
    /// a Linux bridge, a switch's uplink); Neutron's names only refine the label (qbr, qvb, qr-).
    func role(_ iid: InterfaceID) -> String {
        guard let i = topology.interface(iid) else { return "interface" }
        let l = i.link
        if instances.contains(where: { $0.nic == iid }) { return "instance NIC" }
        if instances.contains(where: { $0.tap == iid }) { return "tap" }
        if l.kind == .bridge { return i.neutronRole == "Linux bridge qbr" ? "Linux bridge qbr" : "Linux bridge" }
        let ns = topology.namespace(iid.namespace)
        if ns?.isRouter == true {
            if let r = i.neutronRole, r.hasPrefix("router ") { return r }
            return "router interface"
        }
        if let p = i.ovsPort, let port = topology.port(p) {
            if port.interface.type == "internal" { return i.addresses.isEmpty ? "OVS internal port" : "OVS internal port (addressed)" }
            if let r = i.neutronRole, r != "tap" { return r }
            if let peer = i.vethPeer, let peerName = topology.interface(peer)?.name {
                let peerNode = topology.namespace(peer.namespace)
                if peerNode?.switchIndex != nil && peer.namespace != iid.namespace { return "NIC" }
                if i.neutronRole == "tap" { return "tap (veth to \(peerName))" }
                if peerNode?.node != ns?.node || peerNode?.switchIndex != nil { return "NIC" }
                return "veth to \(peerName)"
            }
            return l.kind == nil ? "NIC" : "OVS port"
        }
        if let r = i.neutronRole { return r }
        if l.kind == nil && !l.flags.contains(.loopback) { return "NIC" }
        if l.kind == .veth, let peer = i.vethPeer, let peerName = topology.interface(peer)?.name { return "veth to \(peerName)" }
        return l.kind?.rawValue ?? "interface"
    }
}

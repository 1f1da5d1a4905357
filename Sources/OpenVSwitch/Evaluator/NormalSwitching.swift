import HopscopeModel

extension Translation {
    /// The NORMAL action: an 802.1Q learning switch over the bridge's ports, as
    /// `xlate_normal()` does it. The input port's VLAN mode decides the packet's VLAN (an access
    /// port drops tagged packets, a trunk drops VLANs it does not carry); the MAC table
    /// (`fdb/show`) gives the output port; otherwise the packet floods to every port carrying the
    /// VLAN except the input port and mirror outputs. Each output gets the tag its port needs.
    mutating func normal() {
        let bridge = b
        guard let inPort = bridge.ports[state.inPort] else {
            normalDrop("no input port \(state.inPort) on the bridge (no input bundle), dropping")
            return
        }
        if bridge.multicastSnooping {
            unknown("NORMAL with multicast snooping enabled on \(bridge.name) is not modelled", bridge: self.bridge)
            return
        }
        if inPort.isMirrorOutput {
            normalDrop("input port \(inPort.name) is a mirror output port, dropping")
            return
        }
        // The VLAN the packet arrived with (0: untagged or priority-tagged).
        let vid = state.vlanTCI & 0x1000 != 0 ? state.vlanTCI & 0x0FFF : 0
        switch inPort.vlanMode {
        case .access:
            if vid != 0 {
                normalDrop("dropping VLAN \(vid) tagged packet received on port \(inPort.name) configured as VLAN \(inPort.tag ?? 0) access port")
                return
            }
        case .nativeTagged, .nativeUntagged:
            if vid != 0 && !inPort.trunks(vlan: vid) {
                normalDrop("dropping VLAN \(vid) packet received on port \(inPort.name) not configured for trunking VLAN \(vid)")
                return
            }
        case .trunk:
            if !inPort.trunks(vlan: vid) {
                normalDrop("dropping VLAN \(vid) packet received on port \(inPort.name) not configured for trunking VLAN \(vid)")
                return
            }
        case .dot1qTunnel:
            unknown("NORMAL on dot1q-tunnel port \(inPort.name) is not modelled", bridge: self.bridge)
            return
        }
        let vlan: UInt16
        switch inPort.vlanMode {
        case .access: vlan = inPort.tag ?? 0
        case .nativeTagged, .nativeUntagged: vlan = vid == 0 ? (inPort.tag ?? 0) : vid
        default: vlan = vid
        }
        let dst = state[.ethDst]
        if !bridge.forwardBPDU && dst & 0xFFFF_FFFF_FFF0 == 0x0180_C200_0000 {
            normalDrop("packet has reserved destination MAC, dropping")
            return
        }
        let isMulticast = (dst >> 40) & 1 == 1
        if !isMulticast, let learned = bridge.fdb[UInt64(vlan) << 48 | dst] {
            if learned == state.inPort {
                normalDrop("learned port is input port, dropping")
                return
            }
            guard let out = bridge.ports[learned] else {
                normalDrop("learned port \(learned) is unknown, dropping")
                return
            }
            steps.append(TraceStep(kind: .normal, bridge: bridge.name, table: table, depth: depth,
                                   note: "NORMAL: destination learned on \(out.name) in VLAN \(vlan), forwarding"))
            normalOutput(out, vlan: vlan)
            return
        }
        steps.append(TraceStep(kind: .normal, bridge: bridge.name, table: table, depth: depth,
                               note: isMulticast ? "NORMAL: multicast/broadcast destination, flooding VLAN \(vlan)"
                                                 : "NORMAL: no learned MAC for destination, flooding VLAN \(vlan)"))
        var floodedAny = false
        for n in bridge.portOrder where n != state.inPort {
            guard let p = bridge.ports[n], p.floodable, !p.isMirrorOutput, p.includes(vlan: vlan) else { continue }
            floodedAny = true
            normalOutput(p, vlan: vlan)
        }
        if !floodedAny { normalDrop("NORMAL: no other port carries VLAN \(vlan); flood reaches nothing") }
    }

    mutating func normalDrop(_ reason: String) {
        steps.append(TraceStep(kind: .normal, bridge: b.name, table: table, depth: depth, note: reason))
        dropped(.normal, reason: reason)
    }

    /// `output_normal`: tag or untag for the output port, output, and restore the tags.
    mutating func normalOutput(_ port: BridgePort, vlan: UInt16) {
        let savedTCI = state.vlanTCI
        let savedInner = state[.vlanTCIInner]
        let pcp = state.vlanTCI & 0x1000 != 0 ? state.vlanTCI & 0xE000 : 0
        let tagged: Bool
        switch port.vlanMode {
        case .access, .dot1qTunnel: tagged = false
        case .trunk, .nativeTagged: tagged = vlan != 0
        case .nativeUntagged: tagged = vlan != 0 && vlan != (port.tag ?? 0)
        }
        state.vlanTCI = tagged ? 0x1000 | pcp | vlan : 0
        state[.vlanTCIInner] = 0
        compose(port.ofport)
        state.vlanTCI = savedTCI
        state[.vlanTCIInner] = savedInner
    }
}

import HopscopeModel

/// A local VLAN <-> tunnel ID translation that a bridge's flows perform (Neutron's br-tun tables
/// 4 and 20/22).
public struct VLANTunnelMapping: Codable, Hashable, Sendable {
    public enum Direction: String, Codable, Sendable { case toTunnel, fromTunnel }
    public var bridge: String
    public var direction: Direction
    public var vlan: Int
    public var tunnelID: UInt64
    public var table: Int

    /// The translations `flows` of `bridge` perform: a flow matching a VLAN and setting a tunnel id
    /// (to the tunnel), or matching a tunnel id and setting a VLAN (from it).
    public static func find(in flows: [OpenFlowRule], bridge: String) -> [VLANTunnelMapping] {
        var out = Set<VLANTunnelMapping>()
        for f in flows {
            var matchVLAN: Int?, matchTunnel: UInt64?
            for m in f.match {
                guard case .field(let field) = m.kind else { continue }
                if field.name == "dl_vlan" { matchVLAN = Int(m.value.low) }
                if field.name == "vlan_tci", m.value.low & 0x1000 != 0 || m.mask?.low == 0x0fff { matchVLAN = Int(m.value.low & 0xfff) }
                if field.name == "vlan_vid" { matchVLAN = Int(m.value.low & 0xfff) }
                if field.name == "tun_id", m.mask == nil { matchTunnel = m.value.low }
            }
            var setVLAN: Int?, setTunnel: UInt64?
            for a in f.actions {
                switch a.kind {
                case .modVlanVid(let v): setVLAN = Int(v)
                case .setField(let field, let value, _) where field.name == "vlan_vid": setVLAN = Int(value.low & 0xfff)
                case .setField(let field, let value, _) where field.name == "tun_id": setTunnel = value.low
                case .load(let value, let dst) where dst.field.name == "tun_id": setTunnel = value.low
                case .setTunnel(let t): setTunnel = t
                default: break
                }
            }
            if let t = matchTunnel, let v = setVLAN { out.insert(.init(bridge: bridge, direction: .fromTunnel, vlan: v, tunnelID: t, table: f.table)) }
            if let v = matchVLAN, let t = setTunnel { out.insert(.init(bridge: bridge, direction: .toTunnel, vlan: v, tunnelID: t, table: f.table)) }
        }
        return out.sorted { ($0.direction.rawValue, $0.vlan, $0.tunnelID) < ($1.direction.rawValue, $1.vlan, $1.tunnelID) }
    }
}


import HopscopeModel

// RTM_NEWNEIGH payload:
//
//   struct ndmsg {  0: family  1: pad  2-3: pad  4-7: ifindex  8-9: state (NUD_*)
//                   10: flags (NTF_*)  11: type }
//   then NDA_* attributes. Family AF_INET/AF_INET6 is the ARP/NDP cache; AF_BRIDGE is the bridge
//   forwarding database (NDA_LLADDR the MAC, NDA_MASTER the bridge, NDA_DST a vxlan remote).

/// Decodes RTM_NEWNEIGH messages into `Neighbor` (ARP/NDP) and `FDBEntry` (bridge) values.
public enum NeighborMessage {
    /// FDB entry flags in `bridge fdb` order.
    static let fdbFlagNames: FlagNameTable = {
        let names: [(NeighborFlags, String)] = [
            (.self, "self"), (.router, "router"), (.externLearned, "extern_learn"),
            (.offloaded, "offload"), (.master, "master"), (.sticky, "sticky"),
        ]
        return FlagNameTable(names.map { (UInt32($0.0.rawValue), $0.1) })
    }()

    /// Decodes an ARP/NDP entry; nil for other families.
    public static func decodeNeighbor(_ payload: UnsafeRawBufferPointer) throws -> Neighbor? {
        let header = try FixedHeader(payload, size: FamilyHeaderSize.ndmsg, context: "ndmsg")
        let family = header.uint8(0)
        guard family == AddressFamily.inet.rawValue || family == AddressFamily.inet6.rawValue else { return nil }
        var destination: IPAddress?
        var mac: MACAddress?
        var a = AttributeDecoder(header.remainder(after: FamilyHeaderSize.ndmsg), context: "neighbour attributes")
        while a.next() {
            switch NeighborAttribute(rawValue: a.type) {
            case .destination?: destination = a.ipAddress()
            case .linkLayerAddress?: mac = a.macAddress()
            default: break
            }
        }
        try a.finish()
        guard let destination else {
            throw NetlinkDecodeError(problem: .malformed, context: "neighbour attributes", offset: 0, detail: "NDA_DST is missing")
        }
        let flags = NeighborFlags(rawValue: header.uint8(10))
        var n = Neighbor(address: destination, interfaceIndex: Int(header.int32(4)), mac: mac,
                         state: NeighborState(rawValue: header.uint16(8)))
        n.isRouter = flags.contains(.router)
        n.isProxy = flags.contains(.proxy)
        n.externallyLearned = flags.contains(.externLearned)
        return n
    }

    /// Decodes a bridge FDB entry; nil for families other than AF_BRIDGE.
    public static func decodeFDB(_ payload: UnsafeRawBufferPointer) throws -> FDBEntry? {
        let header = try FixedHeader(payload, size: FamilyHeaderSize.ndmsg, context: "ndmsg")
        guard header.uint8(0) == AddressFamily.bridge.rawValue else { return nil }
        var mac: MACAddress?
        var entryMaster: Int?, vlan: UInt16?, vni: UInt32?, remote: IPAddress?, port: UInt16?
        var a = AttributeDecoder(header.remainder(after: FamilyHeaderSize.ndmsg), context: "fdb attributes")
        while a.next() {
            switch NeighborAttribute(rawValue: a.type) {
            case .linkLayerAddress?:
                if a.payload.count == 6 { mac = a.macAddress() } else { a.fail(.malformed, "an FDB MAC needs 6 bytes, found \(a.payload.count)") }
            case .master?: entryMaster = Int(a.uint32())
            case .vlan?: vlan = a.uint16()
            case .vni?: vni = a.uint32()
            case .destination?: remote = a.ipAddress()
            case .port?: port = a.uint16BigEndian()
            default: break
            }
        }
        try a.finish()
        guard let mac else {
            throw NetlinkDecodeError(problem: .malformed, context: "fdb attributes", offset: 0, detail: "NDA_LLADDR is missing")
        }
        var entry = FDBEntry(mac: mac, interfaceIndex: Int(header.int32(4)),
                             state: NeighborState(rawValue: header.uint16(8)),
                             flags: fdbFlagNames.names(of: UInt32(header.uint8(10))))
        entry.masterIndex = entryMaster
        entry.vlan = vlan
        entry.vni = vni
        entry.tunnelRemoteIP = remote
        entry.tunnelPort = port
        return entry
    }
}

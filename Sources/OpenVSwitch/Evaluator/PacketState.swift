import HopscopeModel

/// The packet and its metadata during evaluation: one 64-bit slot per `PacketSlot`, laid out like
/// OVS's `struct flow` so matches, loads and moves are plain bit operations.
///
/// A value type: copying it is how patch ports, clone() and recirculation keep the original.
struct PacketState {
    var slots: [UInt64]

    init() { slots = Array(repeating: 0, count: PacketSlot.count) }

    @inline(__always) subscript(_ s: PacketSlot) -> UInt64 {
        get { slots[s.rawValue] }
        set { slots[s.rawValue] = newValue }
    }

    /// Reads a whole field (all its storage parts, most significant first).
    func read(_ field: FlowField) -> Bits128 {
        let parts = FlowField.descriptors[field.index].parts
        if parts.count == 1 {
            let p = parts[0]
            let v = p.bits == 64 ? slots[p.slot.rawValue] : (slots[p.slot.rawValue] >> UInt64(p.offset)) & ((1 << UInt64(p.bits)) - 1)
            return Bits128(low: v)
        }
        var v = Bits128.zero
        for p in parts {
            let piece = p.bits == 64 ? slots[p.slot.rawValue] : (slots[p.slot.rawValue] >> UInt64(p.offset)) & ((1 << UInt64(p.bits)) - 1)
            v = (v << p.bits) | Bits128(low: piece)
        }
        return v
    }

    /// Writes the bits of `value` selected by `mask` into a whole field.
    mutating func write(_ field: FlowField, value: Bits128, mask: Bits128) {
        let parts = FlowField.descriptors[field.index].parts
        var shift = field.width
        for p in parts {
            shift -= p.bits
            let pieceMask = ((mask >> shift) & Bits128.ones(p.bits)).low
            guard pieceMask != 0 else { continue }
            let pieceValue = ((value >> shift) & Bits128.ones(p.bits)).low
            let slotMask = p.bits == 64 ? pieceMask : pieceMask << UInt64(p.offset)
            let slotValue = p.bits == 64 ? pieceValue : pieceValue << UInt64(p.offset)
            slots[p.slot.rawValue] = (slots[p.slot.rawValue] & ~slotMask) | (slotValue & slotMask)
        }
    }

    func read(_ ref: FieldReference) -> Bits128 {
        (read(ref.field) >> ref.start) & Bits128.ones(ref.width)
    }

    mutating func write(_ ref: FieldReference, value: Bits128) {
        write(ref.field, value: (value & Bits128.ones(ref.width)) << ref.start, mask: Bits128.ones(ref.width) << ref.start)
    }

    // MARK: Conveniences for the fields the evaluator handles itself

    var inPort: UInt32 {
        get { UInt32(truncatingIfNeeded: self[.inPort]) }
        set { self[.inPort] = UInt64(newValue) }
    }
    var vlanTCI: UInt16 {
        get { UInt16(truncatingIfNeeded: self[.vlanTCI]) }
        set { self[.vlanTCI] = UInt64(newValue) }
    }
    /// The VLAN ID when a tag is present.
    var vlanID: UInt16? { vlanTCI & 0x1000 != 0 ? vlanTCI & 0x0FFF : nil }

    /// Pushes an 802.1Q tag (an existing one becomes the inner tag) with VID `vid` and PCP 0, or
    /// with the outer tag's VID and PCP when `vid` is nil (OpenFlow 1.1+ push_vlan).
    mutating func pushVlan(vid: UInt16?) {
        let outer = vlanTCI
        self[.vlanTCIInner] = UInt64(outer)
        vlanTCI = 0x1000 | (vid.map { $0 & 0x0FFF } ?? (outer & 0xEFFF))
    }

    mutating func popVlan() {
        vlanTCI = UInt16(truncatingIfNeeded: self[.vlanTCIInner])
        self[.vlanTCIInner] = 0
    }

    /// Clears what a patch port or `ct()` clears: the connection tracking fields.
    mutating func clearConntrack() {
        self[.ctState] = 0
        self[.ctZone] = 0
        self[.ctMark] = 0
        self[.ctLabelHigh] = 0
        self[.ctLabelLow] = 0
    }
}

/// An error turning a `PacketKey` into evaluator state: a field the evaluator does not model, or
/// a port the bridge does not have.
public struct PacketKeyError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

extension PacketState {
    /// The state for `key` entering a bridge, with in_port resolved by `resolvePort` (a number,
    /// a port name, or LOCAL). Fields not given are zero, as in `ofproto/trace`.
    init(_ key: PacketKey, resolvePort: (String) -> UInt32?) throws {
        self.init()
        if let name = key.inPort {
            guard let n = resolvePort(name) else {
                throw PacketKeyError(message: "in_port=\(name): the bridge has no such port (give an OpenFlow port number or a port name from `hopscope ovs`)")
            }
            inPort = n
        } else {
            inPort = ReservedPort.none.number
        }
        if let m = key.ethSrc { self[.ethSrc] = m.value }
        if let m = key.ethDst { self[.ethDst] = m.value }
        vlanTCI = key.vlanTCI
        self[.ethType] = UInt64(key.ethType)
        switch key.ipSrc {
        case .v4(let a)?: self[.nwSrc] = UInt64(a.value)
        case .v6(let a)?: self[.ipv6SrcHigh] = a.high; self[.ipv6SrcLow] = a.low
        case nil: break
        }
        switch key.ipDst {
        case .v4(let a)?: self[.nwDst] = UInt64(a.value)
        case .v6(let a)?: self[.ipv6DstHigh] = a.high; self[.ipv6DstLow] = a.low
        case nil: break
        }
        self[.nwProto] = UInt64(key.ipProto)
        if let t = key.ttl { self[.nwTTL] = UInt64(t) }
        if let t = key.tos { self[.nwTOS] = UInt64(t) }
        if let p = key.srcPort { self[.tpSrc] = UInt64(p) }
        if let p = key.dstPort { self[.tpDst] = UInt64(p) }
        if let f = key.tcpFlags { self[.tcpFlags] = UInt64(f) }
        if let t = key.icmpType { self[.tpSrc] = UInt64(t) }
        if let c = key.icmpCode { self[.tpDst] = UInt64(c) }
        // ARP shares storage with IP fields, as in OVS: opcode in nw_proto, SPA/TPA in nw_src/nw_dst.
        if let op = key.arpOp { self[.nwProto] = UInt64(op & 0xFF) }
        if let a = key.arpSPA { self[.nwSrc] = UInt64(a.value) }
        if let a = key.arpTPA { self[.nwDst] = UInt64(a.value) }
        if let m = key.arpSHA { self[.arpSHA] = m.value }
        if let m = key.arpTHA { self[.arpTHA] = m.value }
        if let t = key.tunnelID { self[.tunnelID] = t }
        if let a = key.tunnelSrc?.ipv4 { self[.tunnelSrc] = UInt64(a.value) }
        if let a = key.tunnelDst?.ipv4 { self[.tunnelDst] = UInt64(a.value) }
        if let m = key.metadata { self[.metadata] = m }
        for (n, v) in key.registers {
            guard let f = FlowField(named: "reg\(n)") else { continue }
            write(f, value: Bits128(low: UInt64(v)), mask: .ones(32))
        }
        if let s = key.ctState { self[.ctState] = UInt64(s) }
        if let z = key.ctZone { self[.ctZone] = UInt64(z) }
        if let m = key.ctMark { self[.ctMark] = UInt64(m) }
        for extra in key.extraFields {
            guard let value = extra.value, let field = FlowField(named: extra.name) else {
                throw PacketKeyError(message: "\(extra.name): Hopscope's evaluator does not model this field")
            }
            let parsed = try OpenFlowRule(parsing: "\(field.name)=\(value) actions=drop")
            guard let item = parsed.match.first, item.portName == nil else {
                throw PacketKeyError(message: "\(extra.name)=\(value): not a value Hopscope can use here")
            }
            write(field, value: item.value, mask: item.mask ?? .ones(field.width))
        }
    }
}

import HopscopeModel

/// Writes field values in OVS's notation (ovs-fields(7)): MAC and IP addresses as addresses,
/// prefixes as `/N`, ct_state as `+trk-est` flags, numbers in hexadecimal. Used for learned flows
/// and anything Hopscope prints that did not come from a dump line.
public enum FlowFormatter {
    /// `name=value[/mask]` for one field.
    public static func matchText(field: FlowField, value: Bits128, mask: Bits128?) -> String {
        "\(field.name)=\(valueText(field: field, value: value, mask: mask))"
    }

    /// The value (and mask, when it is not all ones) of `field`.
    public static func valueText(field: FlowField, value: Bits128, mask: Bits128?) -> String {
        let full = Bits128.ones(field.width)
        let m = mask.map { $0 & full }
        let exact = m == nil || m == full
        switch field.descriptor.format {
        case .mac:
            let v = MACAddress(value: value.low).description
            return exact ? v : "\(v)/\(MACAddress(value: m!.low))"
        case .ipv4:
            let v = IPv4Address(value: UInt32(truncatingIfNeeded: value.low)).description
            guard !exact else { return v }
            let mm = UInt32(truncatingIfNeeded: m!.low)
            let ones = mm.nonzeroBitCount
            if mm == (ones == 0 ? 0 : UInt32.max << UInt32(32 - ones)) { return "\(v)/\(ones)" }
            return "\(v)/\(IPv4Address(value: mm))"
        case .ipv6:
            let v = IPv6Address(high: value.high, low: value.low).description
            guard !exact else { return v }
            let ones = m!.high.nonzeroBitCount + m!.low.nonzeroBitCount
            if m! == (~Bits128.ones(128 - ones)) & full || (ones == 0 && m!.isZero) { return "\(v)/\(ones)" }
            return "\(v)/\(IPv6Address(high: m!.high, low: m!.low))"
        case .ctState:
            let known = ConntrackState.bits.reduce(UInt64(0)) { $0 | UInt64($1.1) }
            let mm = m?.low ?? known
            if mm & ~known == 0 && value.low & ~known == 0 && mm != 0 {
                return ConntrackState.bits.compactMap { name, bit in
                    UInt64(bit) & mm == 0 ? nil : (value.low & UInt64(bit) != 0 ? "+" : "-") + name
                }.joined()
            }
            return exact ? value.hex : "\(value.hex)/\(m!.hex)"
        default:
            return exact ? value.hex : "\(value.hex)/\(m!.hex)"
        }
    }

    /// Value and mask reduced to the bits that matter, for comparing two spellings of a match.
    public static func normalized(_ value: Bits128, _ mask: Bits128?, _ field: FlowField) -> [UInt64] {
        let full = Bits128.ones(max(field.width, 16))
        let m = (mask ?? full) & full
        let v = value & m
        return [v.high, v.low, m.high, m.low]
    }
}

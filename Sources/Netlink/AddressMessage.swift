import HopscopeModel

// RTM_NEWADDR payload:
//
//   struct ifaddrmsg {  0: family  1: prefixlen  2: flags (low 8 IFA_F_* bits)  3: scope
//                       4-7: interface index }
//   then IFA_* attributes. IPv4: IFA_LOCAL is the address, IFA_ADDRESS the peer (equal without
//   one). IPv6: IFA_ADDRESS is the address. IFA_FLAGS (u32) supersedes the 8-bit flags.

/// Decodes RTM_NEWADDR messages into `InterfaceAddress` values.
public enum AddressMessage {
    static let flagNames = FlagNameTable(AddressFlag.allCases.map { ($0.rawValue, $0.name) })

    /// Decodes one RTM_NEWADDR payload; returns nil for families other than IPv4 and IPv6.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws -> InterfaceAddress? {
        let header = try FixedHeader(payload, size: FamilyHeaderSize.ifaddrmsg, context: "ifaddrmsg")
        let family = header.uint8(0)
        guard family == AddressFamily.inet.rawValue || family == AddressFamily.inet6.rawValue else { return nil }
        var local: IPAddress?, address: IPAddress?, broadcast: IPAddress?
        var label: String?
        var flags = UInt32(header.uint8(2))
        var valid: UInt32?, preferred: UInt32?
        var proto: UInt8?
        var a = AttributeDecoder(header.remainder(after: FamilyHeaderSize.ifaddrmsg), context: "address attributes")
        while a.next() {
            switch AddressAttribute(rawValue: a.type) {
            case .local?: local = a.ipAddress()
            case .address?: address = a.ipAddress()
            case .broadcast?: broadcast = a.ipAddress()
            case .label?: label = a.string()
            case .flags?: flags = a.uint32()
            case .addressProtocol?: proto = a.uint8()
            case .cacheInfo?:
                // struct ifa_cacheinfo { ifa_prefered, ifa_valid, cstamp, tstamp }
                let p = a.payload
                guard p.count >= 16 else {
                    a.fail(.malformed, "IFA_CACHEINFO needs 16 bytes, found \(p.count)")
                    continue
                }
                let pref = p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
                let val = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                preferred = pref == UInt32.max ? nil : pref
                valid = val == UInt32.max ? nil : val
            default: break
            }
        }
        try a.finish()
        guard let mine = local ?? address else {
            throw NetlinkDecodeError(problem: .malformed, context: "address attributes", offset: 0,
                                     detail: "neither IFA_LOCAL nor IFA_ADDRESS is present")
        }
        guard mine.isIPv4 == (family == AddressFamily.inet.rawValue) else {
            throw NetlinkDecodeError(problem: .malformed, context: "address attributes", offset: 0,
                                     detail: "address \(mine) does not match family \(family)")
        }
        var result = InterfaceAddress(
            interfaceIndex: Int(header.uint32(4)),
            prefix: IPPrefix(address: mine, length: Int(header.uint8(1))),
            scope: RouteScope(rawValue: header.uint8(3)),
            flags: flagNames.names(of: flags))
        if let address, let local, address != local { result.peer = address }
        result.broadcast = broadcast
        result.label = label
        result.validLifetime = valid
        result.preferredLifetime = preferred
        result.addressProtocol = proto
        return result
    }
}

import HopscopeModel

// RTM_NEWRULE payload:
//
//   struct fib_rule_hdr {  0: family  1: dst_len  2: src_len  3: tos  4: table  5-6: reserved
//                          7: action (FR_ACT_*)  8-11: flags (FIB_RULE_INVERT = 2) }
//   then FRA_* attributes.

/// Decodes RTM_NEWRULE messages into `RoutingRule` values.
public enum RuleMessage {
    static let invertFlag: UInt32 = 0x2

    /// Decodes one RTM_NEWRULE payload; nil for families other than IPv4 and IPv6.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws -> RoutingRule? {
        let header = try FixedHeader(payload, size: FamilyHeaderSize.fibRuleHeader, context: "fib_rule_hdr")
        let family = header.uint8(0)
        guard family == AddressFamily.inet.rawValue || family == AddressFamily.inet6.rawValue else { return nil }
        let action: RuleAction = switch RuleActionCode(rawValue: header.uint8(7)) {
        case .toTable?: .lookup
        case .goto?: .goto
        case .nop?: .nop
        case .blackhole?: .blackhole
        case .unreachable?: .unreachable
        case .prohibit?: .prohibit
        case .unspecified?, nil: .unspecified
        }
        var rule = RoutingRule(family: family == AddressFamily.inet.rawValue ? "inet" : "inet6", priority: 0, action: action)
        rule.tos = header.uint8(3)
        rule.inverted = header.uint32(8) & invertFlag != 0
        let headerTable = UInt32(header.uint8(4))
        if headerTable != 0 { rule.table = headerTable }
        let destinationLength = Int(header.uint8(1)), sourceLength = Int(header.uint8(2))
        var a = AttributeDecoder(header.remainder(after: FamilyHeaderSize.fibRuleHeader), context: "rule attributes")
        while a.next() {
            switch RuleAttribute(rawValue: a.type) {
            case .priority?: rule.priority = a.uint32()
            case .source?: if let ip = a.ipAddress() { rule.from = IPPrefix(address: ip, length: sourceLength) }
            case .destination?: if let ip = a.ipAddress() { rule.to = IPPrefix(address: ip, length: destinationLength) }
            case .inputInterfaceName?: rule.inputInterface = a.string()
            case .outputInterfaceName?: rule.outputInterface = a.string()
            case .fwmark?: rule.fwmark = a.uint32()
            case .fwmask?: rule.fwmask = a.uint32()
            case .table?:
                let t = a.uint32()
                if t != 0 { rule.table = t }
            case .goto?: rule.gotoPriority = a.uint32()
            case .suppressPrefixLength?:
                let v = a.int32()
                if v != -1 { rule.suppressPrefixLength = v }
            case .suppressInterfaceGroup?:
                let v = a.int32()
                if v != -1 { rule.suppressInterfaceGroup = v }
            case .l3mdev?: rule.l3mdev = a.bool()
            case .ruleProtocol?: rule.ruleProtocol = RouteProtocol(rawValue: a.uint8())
            case .ipProtocol?: rule.ipProtocol = a.uint8()
            case .uidRange?:
                let p = a.payload
                if p.count == 8 {
                    rule.uidRange = clampedRange(p.loadUnaligned(as: UInt32.self), p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                } else {
                    a.fail(.malformed, "FRA_UID_RANGE needs 8 bytes, found \(p.count)")
                }
            case .sourcePortRange?, .destinationPortRange?:
                let p = a.payload
                guard p.count == 4 else {
                    a.fail(.malformed, "a port range needs 4 bytes, found \(p.count)")
                    continue
                }
                let range = clampedRange(p.loadUnaligned(as: UInt16.self), p.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                if a.type == RuleAttribute.sourcePortRange.rawValue { rule.sourcePorts = range } else { rule.destinationPorts = range }
            default: break
            }
        }
        try a.finish()
        if rule.action != .lookup { rule.table = rule.table == 0 ? nil : rule.table }
        return rule
    }

    static func clampedRange<T: Comparable>(_ a: T, _ b: T) -> ClosedRange<T> { min(a, b)...max(a, b) }
}

import HopscopeModel

/// An interface name in a rule: exact (`tap1234`) or a prefix wildcard (`qr-+`), as iptables
/// matches `-i`, `-o` and `--physdev-in/out`.
public struct InterfacePattern: Hashable, Sendable, CustomStringConvertible {
    /// The name without the trailing `+`.
    public var stem: String
    public var isWildcard: Bool

    public init(_ text: String) {
        if text.utf8.last == UInt8(ascii: "+") {
            stem = String(decoding: text.utf8.dropLast(), as: UTF8.self)
            isWildcard = true
        } else {
            stem = text
            isWildcard = false
        }
    }

    public func matches(_ name: String) -> Bool {
        isWildcard ? name.hasPrefix(stem) : name == stem
    }

    public var description: String { isWildcard ? stem + "+" : stem }
}

/// A port or port range (`22`, `1024:65535`), inclusive.
public struct PortRange: Hashable, Sendable, CustomStringConvertible {
    public var low: UInt16
    public var high: UInt16
    public init(_ low: UInt16, _ high: UInt16) { self.low = low; self.high = high }
    public func contains(_ p: UInt16) -> Bool { p >= low && p <= high }
    public var description: String { low == high ? "\(low)" : "\(low):\(high)" }
}

/// Connection-tracking states as `-m state --state` and `-m conntrack --ctstate` name them.
public struct ConnectionStates: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let invalid = ConnectionStates(rawValue: 1 << 0)
    public static let established = ConnectionStates(rawValue: 1 << 1)
    public static let related = ConnectionStates(rawValue: 1 << 2)
    public static let new = ConnectionStates(rawValue: 1 << 3)
    public static let untracked = ConnectionStates(rawValue: 1 << 4)
    public static let snat = ConnectionStates(rawValue: 1 << 5)
    public static let dnat = ConnectionStates(rawValue: 1 << 6)

    static let names: [(String, ConnectionStates)] = [
        ("INVALID", .invalid), ("ESTABLISHED", .established), ("RELATED", .related), ("NEW", .new),
        ("UNTRACKED", .untracked), ("SNAT", .snat), ("DNAT", .dnat),
    ]
}

/// Connection-tracking status bits as `-m conntrack --ctstatus` names them.
public struct ConnectionStatus: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let expected = ConnectionStatus(rawValue: 1 << 0)
    public static let seenReply = ConnectionStatus(rawValue: 1 << 1)
    public static let assured = ConnectionStatus(rawValue: 1 << 2)
    public static let confirmed = ConnectionStatus(rawValue: 1 << 3)
    static let names: [(String, ConnectionStatus)] = [
        ("NONE", []), ("EXPECTED", .expected), ("SEEN_REPLY", .seenReply), ("ASSURED", .assured), ("CONFIRMED", .confirmed),
    ]
}

/// Address types of `-m addrtype` (`LOCAL`, `BROADCAST`, ...).
public struct AddressTypes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    static let names: [String] = ["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST",
                                  "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"]
    public static let unicast = AddressTypes(rawValue: 1 << 1)
    public static let local = AddressTypes(rawValue: 1 << 2)
    public static let broadcast = AddressTypes(rawValue: 1 << 3)
    public static let multicast = AddressTypes(rawValue: 1 << 5)
}

/// What one rule clause tests, decoded from its option and values.
///
/// `unsupported` keeps clauses Hopscope reads but does not model (an unknown module, an option
/// of a known module it does not evaluate): evaluating a rule that reaches one gives `unknown`
/// with the rule named, never a guess.
public enum MatchCriterion: Hashable, Sendable {
    /// `-m NAME`: loads a match module; always true by itself.
    case loadModule(String)
    case source(IPPrefix)
    case destination(IPPrefix)
    case inInterface(InterfacePattern)
    case outInterface(InterfacePattern)
    /// `-p`: nil is `all`.
    case ipProtocol(UInt8?)
    /// `-f`: second and later fragments.
    case fragment
    case sourcePort(PortRange)
    case destinationPort(PortRange)
    /// `-m multiport --sports/--dports/--ports`.
    case multiport(MultiportDirection, [PortRange])
    /// `--tcp-flags MASK COMP` (and `--syn`), as bits of the TCP header flags byte.
    case tcpFlags(mask: UInt8, set: UInt8)
    /// `--icmp-type` / `--icmpv6-type`: nil type is `any`.
    case icmpType(type: UInt8?, codes: ClosedRange<UInt8>)
    case connectionState(ConnectionStates)
    case connectionStatus(ConnectionStatus)
    /// `--ctdir ORIGINAL|REPLY`: true for REPLY.
    case connectionDirectionReply(Bool)
    case macSource(MACAddress)
    case physdevIn(InterfacePattern)
    case physdevOut(InterfacePattern)
    case physdevIsIn
    case physdevIsOut
    case physdevIsBridged
    case comment(String)
    /// `-m set --match-set NAME src,dst`: one direction flag per set dimension (true = source).
    case ipset(name: String, sourceFlags: [Bool])
    /// `-m addrtype --src-type/--dst-type`.
    case addressType(source: Bool, AddressTypes)
    /// `--limit-iface-in` / `--limit-iface-out` of addrtype: the kernel restricts the address lookup to one interface.
    case addressTypeLimitInterface(input: Bool)
    /// `-m mark --mark VALUE[/MASK]`.
    case mark(value: UInt32, mask: UInt32)
    /// `-m connmark --mark VALUE[/MASK]`.
    case connectionMark(value: UInt32, mask: UInt32)
    /// `-m iprange --src-range/--dst-range`. Boxed (`indirect`): two addresses inline would
    /// make every clause of every rule half as large again, for a rare match.
    indirect case addressRange(source: Bool, low: IPAddress, high: IPAddress)
    /// `-m limit`: a rate limit. It matches while under the rate; a traced single packet is under it.
    case rateLimit
    /// `-m owner --uid-owner/--gid-owner/--socket-exists`: needs the sending socket.
    case owner(kind: String, value: String)
    case unsupported(String)
}

public enum MultiportDirection: String, Hashable, Sendable { case source, destination, either }

/// What a target does, decoded from its name and options.
public enum TargetAction: Hashable, Sendable {
    /// No `-j`: count and go on.
    case none
    case accept
    case drop
    case reject(String?)
    case returnFromChain
    case jump(String)
    case goto(String)
    /// Boxed (`indirect`), as DNAT: a NAT range inline would double the size of every rule's action.
    indirect case snat(NATRange)
    indirect case dnat(NATRange)
    case masquerade(ports: PortRange?)
    case redirect(ports: PortRange?)
    case mark(MarkChange)
    case connectionMark(ConnectionMarkChange)
    case checksumFill
    case log
    /// `-j NOTRACK` or `-j CT --notrack`.
    case notrack
    /// `-j CT` without `--notrack` (zones, helpers, timeouts): attaches state, never decides.
    case conntrackTemplate(zone: UInt16?)
    /// A target Hopscope does not model (or an unknown chain): evaluation reaching it is `unknown`.
    case unsupported(String)
}

/// `--to-source` / `--to-destination` of SNAT and DNAT: `ADDR[-ADDR][:PORT[-PORT]]`.
public struct NATRange: Hashable, Sendable, CustomStringConvertible {
    public var low: IPAddress?
    public var high: IPAddress?
    public var ports: PortRange?
    public var randomizesPorts: Bool
    public init(low: IPAddress?, high: IPAddress?, ports: PortRange?, randomizesPorts: Bool = false) {
        self.low = low; self.high = high; self.ports = ports; self.randomizesPorts = randomizesPorts
    }
    public var description: String {
        var s = low.map { "\($0)" } ?? ""
        if let high, high != low { s += "-\(high)" }
        if let ports { s += ":" + (ports.low == ports.high ? "\(ports.low)" : "\(ports.low)-\(ports.high)") }
        return s
    }
}

/// MARK target: `mark = (mark & ~clear) ^ xor` covers --set-xmark, --set-mark, --and/--or/--xor-mark.
public struct MarkChange: Hashable, Sendable {
    public var clear: UInt32
    public var xor: UInt32
    public func apply(_ mark: UInt32) -> UInt32 { (mark & ~clear) ^ xor }
}

/// CONNMARK target operations.
public enum ConnectionMarkChange: Hashable, Sendable {
    /// `--set-xmark value/mask`: ctmark = (ctmark & ~mask) ^ value.
    case set(MarkChange)
    /// `--save-mark --nfmask N --ctmask C`: ctmark = (ctmark & ~C) ^ (mark & N).
    case save(nfmask: UInt32, ctmask: UInt32)
    /// `--restore-mark --nfmask N --ctmask C`: mark = (mark & ~N) ^ (ctmark & C).
    case restore(nfmask: UInt32, ctmask: UInt32)
}

/// An OVSDB atom (RFC 7047 section 5.1): integer, real, boolean, string, UUID, or a named UUID
/// that refers to a row inserted earlier in the same transaction.
public enum OVSDBAtom: Hashable, Sendable, CustomStringConvertible {
    case integer(Int64)
    case real(Double)
    case boolean(Bool)
    case string(String)
    case uuid(String)
    case namedUUID(String)

    /// Reads `<atom>` notation: JSON number/boolean/string, `["uuid", "…"]`, `["named-uuid", "…"]`.
    public init(json: JSONValue) throws {
        switch json {
        case .integer(let i): self = .integer(i)
        case .real(let d): self = .real(d)
        case .bool(let b): self = .boolean(b)
        case .string(let s): self = .string(s)
        case .array(let a) where a.count == 2:
            switch (a[0].stringValue, a[1].stringValue) {
            case ("uuid", let u?): self = .uuid(u)
            case ("named-uuid", let u?): self = .namedUUID(u)
            default: throw OVSDBError.malformed("expected an atom, got \(json)")
            }
        default: throw OVSDBError.malformed("expected an atom, got \(json)")
        }
    }

    public var json: JSONValue {
        switch self {
        case .integer(let i): .integer(i)
        case .real(let d): .real(d)
        case .boolean(let b): .bool(b)
        case .string(let s): .string(s)
        case .uuid(let u): .array([.string("uuid"), .string(u)])
        case .namedUUID(let u): .array([.string("named-uuid"), .string(u)])
        }
    }

    public var stringValue: String? {
        switch self {
        case .string(let s), .uuid(let s), .namedUUID(let s): s
        case .integer(let i): String(i)
        case .real(let d): String(d)
        case .boolean(let b): String(b)
        }
    }
    public var integerValue: Int64? { if case .integer(let i) = self { i } else { nil } }

    public var description: String { json.description }
}

/// An OVSDB datum (RFC 7047 section 5.1): a set of atoms (a bare atom is a one-element set) or a
/// map of atom pairs. Optional columns are sets of zero or one element.
public enum OVSDBDatum: Hashable, Sendable, CustomStringConvertible {
    case set([OVSDBAtom])
    case map([(OVSDBAtom, OVSDBAtom)])

    public static func == (a: OVSDBDatum, b: OVSDBDatum) -> Bool {
        switch (a, b) {
        case (.set(let x), .set(let y)): x == y
        case (.map(let x), .map(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }
    public func hash(into h: inout Hasher) { h.combine(description) }

    public init(json: JSONValue) throws {
        if case .array(let a) = json, a.count == 2, let tag = a[0].stringValue {
            switch tag {
            case "set":
                guard let items = a[1].arrayValue else { throw OVSDBError.malformed("set needs an array: \(json)") }
                self = .set(try items.map(OVSDBAtom.init(json:)))
                return
            case "map":
                guard let pairs = a[1].arrayValue else { throw OVSDBError.malformed("map needs an array: \(json)") }
                self = .map(try pairs.map { pair in
                    guard let kv = pair.arrayValue, kv.count == 2 else { throw OVSDBError.malformed("map entry must be a pair: \(pair)") }
                    return (try OVSDBAtom(json: kv[0]), try OVSDBAtom(json: kv[1]))
                })
                return
            default: break
            }
        }
        self = .set([try OVSDBAtom(json: json)])
    }

    /// RFC 7047 notation: a one-element set as its bare atom, others as `["set", …]` / `["map", …]`.
    public var json: JSONValue {
        switch self {
        case .set(let atoms) where atoms.count == 1: atoms[0].json
        case .set(let atoms): .array([.string("set"), .array(atoms.map(\.json))])
        case .map(let pairs): .array([.string("map"), .array(pairs.map { .array([$0.0.json, $0.1.json]) })])
        }
    }

    public var description: String { json.description }

    public static func atom(_ a: OVSDBAtom) -> OVSDBDatum { .set([a]) }
    public static func string(_ s: String) -> OVSDBDatum { .set([.string(s)]) }
    public static func integer(_ i: Int64) -> OVSDBDatum { .set([.integer(i)]) }
    public static func boolean(_ b: Bool) -> OVSDBDatum { .set([.boolean(b)]) }
    public static func uuid(_ u: String) -> OVSDBDatum { .set([.uuid(u)]) }
    public static func namedUUID(_ u: String) -> OVSDBDatum { .set([.namedUUID(u)]) }
    public static func stringMap(_ m: [String: String]) -> OVSDBDatum {
        .map(m.sorted { $0.key < $1.key }.map { (.string($0.key), .string($0.value)) })
    }
    public static let empty = OVSDBDatum.set([])

    // MARK: Typed reads

    public var atoms: [OVSDBAtom] { if case .set(let a) = self { a } else { [] } }
    /// The single atom of an optional or scalar column, nil when the set is empty.
    public var single: OVSDBAtom? { atoms.first }
    public var string: String? { single?.stringValue }
    public var integer: Int? { single?.integerValue.map { Int($0) } }
    public var boolean: Bool? { if case .boolean(let b)? = single { b } else { nil } }
    public var strings: [String] { atoms.compactMap(\.stringValue) }
    public var integers: [Int] { atoms.compactMap { $0.integerValue.map { Int($0) } } }
    public var uuids: [String] { atoms.compactMap { if case .uuid(let u) = $0 { u } else { nil } } }
    public var stringMap: [String: String] {
        guard case .map(let pairs) = self else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in pairs { if let ks = k.stringValue, let vs = v.stringValue { out[ks] = vs } }
        return out
    }
    public var integerMap: [String: Int] {
        guard case .map(let pairs) = self else { return [:] }
        var out: [String: Int] = [:]
        for (k, v) in pairs { if let ks = k.stringValue, let vi = v.integerValue { out[ks] = Int(vi) } }
        return out
    }
}

/// An OVSDB row as the server returns it: column name to datum (plus `_uuid`).
public typealias OVSDBRow = [String: OVSDBDatum]

/// Failures talking to an OVSDB server. Every case names the operation it happened in.
public enum OVSDBError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The socket could not be opened, connected, read or written.
    case connection(operation: String, socket: String, reason: String)
    /// No reply arrived before the deadline.
    case timeout(operation: String, socket: String, seconds: Double)
    /// The server answered with a JSON-RPC error.
    case rpc(operation: String, error: String, details: String?)
    /// An operation inside a transaction failed (RFC 7047 section 5.2 error object).
    case operation(operation: String, index: Int, error: String, details: String?)
    /// The server sent something that is not RFC 7047.
    case malformed(String)

    public var description: String {
        switch self {
        case .connection(let op, let socket, let reason):
            "OVSDB \(op): cannot talk to \(socket): \(reason) (is ovsdb-server running? check with `hopscope ovs` or pass --ovsdb unix:PATH)"
        case .timeout(let op, let socket, let s):
            "OVSDB \(op): no answer from \(socket) within \(s) s (the server may be stuck; try again or raise --timeout)"
        case .rpc(let op, let error, let details):
            "OVSDB \(op) failed: \(error)" + (details.map { ": \($0)" } ?? "")
        case .operation(let op, let index, let error, let details):
            "OVSDB \(op): operation \(index + 1) failed: \(error)" + (details.map { ": \($0)" } ?? "")
        case .malformed(let what):
            "OVSDB reply is not RFC 7047: \(what)"
        }
    }
}

import Foundation
import Namespaces

/// An RFC 7047 (OVSDB management protocol) client over a unix socket: JSON-RPC requests
/// (`list_dbs`, `get_schema`, `transact`, `echo`), replies matched by id, the server's `echo`
/// keep-alives answered while waiting, and a deadline on every call.
///
/// Blocking: each call waits on the socket (with `poll`) up to `timeout`, so call it from a thread
/// that may block (the CLI, a test, `Task.detached`), not from a latency-sensitive executor.
/// Calls are serialised by a lock; the instance may be shared. The socket closes in `deinit` or
/// `close()`. Unix sockets are reached through the file system, so the client works from any
/// network namespace.
public final class OVSDBClient: @unchecked Sendable {
    /// `unix:PATH` this client talks to.
    public let target: String
    public let timeout: Duration
    private let path: String
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private var nextID: Int64 = 1
    private let lock = NSLock()

    /// Connects to `target` (`unix:/var/run/openvswitch/db.sock`, or a bare path).
    /// Throws `OVSDBError.connection` naming the socket when it cannot connect.
    public init(target: String, timeout: Duration = .seconds(5)) throws {
        self.target = target.hasPrefix("unix:") ? target : "unix:\(target)"
        self.path = target.hasPrefix("unix:") ? String(target.dropFirst(5)) : target
        self.timeout = timeout
        guard !path.isEmpty else { throw OVSDBError.connection(operation: "connect", socket: self.target, reason: "empty socket path") }
        guard path.utf8.count < 108 else {
            throw OVSDBError.connection(operation: "connect", socket: self.target, reason: "socket path longer than 107 bytes")
        }
        do {
            fd = try systemCall("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
                raw[path.utf8.count] = 0
            }
            let len = socklen_t(MemoryLayout<sa_family_t>.size + path.utf8.count + 1)
            _ = try withUnsafePointer(to: &addr) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                    try systemCall("connect(\(path))") { Glibc.connect(fd, sp, len) }
                }
            }
        } catch let e as SystemCallError {
            if fd >= 0 { Glibc.close(fd); fd = -1 }
            throw OVSDBError.connection(operation: "connect", socket: self.target, reason: e.description)
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Closes the connection; later calls fail with `OVSDBError.connection`.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    // MARK: RFC 7047 methods

    /// `list_dbs`: the databases the server holds.
    public func listDatabases() throws -> [String] {
        let r = try call("list_dbs", params: .array([]))
        guard let items = r.arrayValue else { throw OVSDBError.malformed("list_dbs result is not an array: \(r)") }
        let names = items.compactMap(\.stringValue)
        guard names.count == items.count else { throw OVSDBError.malformed("list_dbs result holds non-strings: \(r)") }
        return names
    }

    /// `get_schema`: the schema of `database` as JSON.
    public func schema(_ database: String) throws -> JSONValue {
        try call("get_schema", params: .array([.string(database)]))
    }

    /// `echo`: a round trip that proves the server is alive.
    public func echo() throws {
        let payload = JSONValue.array([.string("hopscope")])
        let r = try call("echo", params: payload)
        guard r == payload else { throw OVSDBError.malformed("echo returned \(r)") }
    }

    /// `transact`: runs `operations` atomically on `database` and returns one result per
    /// operation. `purpose` names the transaction in errors ("read state", "add mirror
    /// hsc-m1"). Throws `OVSDBError.operation` for the first operation that failed (the server
    /// then rolled the whole transaction back).
    public func transact(_ database: String, _ operations: [OVSDBOperation], purpose: String) throws -> [JSONValue] {
        let params = JSONValue.array([.string(database)] + operations.map(\.json))
        let r = try call("transact", params: params, purpose: purpose)
        guard let results = r.arrayValue else { throw OVSDBError.malformed("transact result is not an array: \(r)") }
        for (i, res) in results.enumerated() {
            if let err = res["error"]?.stringValue {
                throw OVSDBError.operation(operation: purpose, index: i, error: err, details: res["details"]?.stringValue)
            }
        }
        if results.count > operations.count, let err = results.last?["error"]?.stringValue {
            throw OVSDBError.operation(operation: purpose, index: operations.count, error: err, details: results.last?["details"]?.stringValue)
        }
        return results
    }

    // MARK: JSON-RPC

    /// Sends one request and waits for its reply, answering `echo` requests from the server and
    /// skipping notifications meanwhile.
    public func call(_ method: String, params: JSONValue, purpose: String? = nil) throws -> JSONValue {
        lock.lock()
        defer { lock.unlock() }
        let operation = purpose ?? method
        let id = nextID
        nextID += 1
        let request = JSONValue.object([("method", .string(method)), ("params", params), ("id", .integer(id))])
        let deadline = ContinuousClock.now + timeout
        try send(request, operation: operation, deadline: deadline)
        while true {
            let message = try receive(operation: operation, deadline: deadline)
            if let m = message["method"]?.stringValue {
                if m == "echo", let rid = message["id"], !rid.isNull {
                    try send(.object([("id", rid), ("result", message["params"] ?? .array([])), ("error", .null)]),
                             operation: "\(operation) (answering echo)", deadline: deadline)
                }
                continue
            }
            guard message["id"]?.integerValue == id else { continue }
            if let error = message["error"], !error.isNull {
                throw OVSDBError.rpc(operation: operation, error: error.stringValue ?? error["error"]?.stringValue ?? error.description,
                                     details: error["details"]?.stringValue)
            }
            return message["result"] ?? .null
        }
    }

    private func remaining(_ deadline: ContinuousClock.Instant) -> Int32 {
        let left = deadline - ContinuousClock.now
        let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, ms))
    }

    private var timeoutSeconds: Double {
        Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
    }

    private func waitFor(_ events: Int16, operation: String, deadline: ContinuousClock.Instant) throws {
        guard fd >= 0 else { throw OVSDBError.connection(operation: operation, socket: target, reason: "connection closed") }
        var p = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let ms = remaining(deadline)
            let r = poll(&p, 1, ms)
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw OVSDBError.connection(operation: operation, socket: target, reason: String(cString: strerror(errno))) }
            if r == 0 { throw OVSDBError.timeout(operation: operation, socket: target, seconds: timeoutSeconds) }
            return
        }
    }

    private func send(_ message: JSONValue, operation: String, deadline: ContinuousClock.Instant) throws {
        let bytes = Array(message.description.utf8)
        var sent = 0
        while sent < bytes.count {
            try waitFor(Int16(POLLOUT), operation: operation, deadline: deadline)
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw OVSDBError.connection(operation: operation, socket: target, reason: "send: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }

    private func receive(operation: String, deadline: ContinuousClock.Instant) throws -> JSONValue {
        while true {
            if let end = JSONReader.completeValueEnd(in: buffer, from: 0) {
                var reader = JSONReader(bytes: buffer)
                let value: JSONValue
                do { value = try reader.value() } catch {
                    throw OVSDBError.malformed("\(error)")
                }
                buffer.removeFirst(end)
                return value
            }
            try waitFor(Int16(POLLIN), operation: operation, deadline: deadline)
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw OVSDBError.connection(operation: operation, socket: target, reason: "recv: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw OVSDBError.connection(operation: operation, socket: target, reason: "the server closed the connection") }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}

/// One operation of a `transact` (RFC 7047 section 5.2), built with the static functions.
public struct OVSDBOperation: Sendable {
    public var json: JSONValue

    /// A condition `[column, function, value]`, e.g. `.equal("name", .string("br-int"))`.
    public struct Condition: Sendable {
        public var json: JSONValue
        public static func equal(_ column: String, _ value: OVSDBDatum) -> Condition {
            Condition(json: .array([.string(column), .string("=="), value.json]))
        }
        public static func includes(_ column: String, _ value: OVSDBDatum) -> Condition {
            Condition(json: .array([.string(column), .string("includes"), value.json]))
        }
    }

    public static func select(_ table: String, where conditions: [Condition] = [], columns: [String]? = nil) -> OVSDBOperation {
        var members: [(String, JSONValue)] = [("op", .string("select")), ("table", .string(table)), ("where", .array(conditions.map(\.json)))]
        if let columns { members.append(("columns", .array(columns.map { .string($0) }))) }
        return OVSDBOperation(json: .object(members))
    }
    public static func insert(_ table: String, row: [String: OVSDBDatum], uuidName: String? = nil) -> OVSDBOperation {
        var members: [(String, JSONValue)] = [("op", .string("insert")), ("table", .string(table)), ("row", rowJSON(row))]
        if let uuidName { members.append(("uuid-name", .string(uuidName))) }
        return OVSDBOperation(json: .object(members))
    }
    public static func update(_ table: String, where conditions: [Condition], row: [String: OVSDBDatum]) -> OVSDBOperation {
        OVSDBOperation(json: .object([("op", .string("update")), ("table", .string(table)),
                                      ("where", .array(conditions.map(\.json))), ("row", rowJSON(row))]))
    }
    /// `mutate` with `insert` or `delete` of set/map elements.
    public static func mutate(_ table: String, where conditions: [Condition], column: String, mutator: String, value: OVSDBDatum) -> OVSDBOperation {
        OVSDBOperation(json: .object([("op", .string("mutate")), ("table", .string(table)),
                                      ("where", .array(conditions.map(\.json))),
                                      ("mutations", .array([.array([.string(column), .string(mutator), value.json])]))]))
    }
    public static func delete(_ table: String, where conditions: [Condition]) -> OVSDBOperation {
        OVSDBOperation(json: .object([("op", .string("delete")), ("table", .string(table)), ("where", .array(conditions.map(\.json)))]))
    }
    /// `wait` until `rows` (exactly) are what `select` would return, with a timeout in ms.
    public static func wait(_ table: String, where conditions: [Condition], columns: [String], until: String, rows: [[String: OVSDBDatum]], timeoutMilliseconds: Int = 0) -> OVSDBOperation {
        OVSDBOperation(json: .object([("op", .string("wait")), ("timeout", .integer(Int64(timeoutMilliseconds))), ("table", .string(table)),
                                      ("where", .array(conditions.map(\.json))), ("columns", .array(columns.map { .string($0) })),
                                      ("until", .string(until)), ("rows", .array(rows.map(rowJSON)))]))
    }
    public static func comment(_ text: String) -> OVSDBOperation {
        OVSDBOperation(json: .object([("op", .string("comment")), ("comment", .string(text))]))
    }

    static func rowJSON(_ row: [String: OVSDBDatum]) -> JSONValue {
        .object(row.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) })
    }
}

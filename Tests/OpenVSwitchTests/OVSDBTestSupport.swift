import Foundation
import Glibc
import Testing
@testable import OpenVSwitch

/// Reads `ovsdb-client -f list dump` / `ovs-vsctl list` text (the real node's database in
/// ../shared/data/ovsdb) into OVSDB rows: `[]` sets, `{k=v}` maps, quoted and bare strings,
/// integers, booleans and UUIDs.
enum OVSDBListFormat {
    static func isUUID(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    static func parse(_ text: String) throws -> [String: [OVSDBRow]] {
        var tables: [String: [OVSDBRow]] = [:]
        var table = "unknown"
        var row: OVSDBRow = [:]
        func flush() {
            if !row.isEmpty { tables[table, default: []].append(row) }
            row = [:]
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix(" table") && !line.contains(":") {
                flush()
                table = String(line.dropLast(6))
                continue
            }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { flush(); continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let column = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            row[column] = try datum(value)
        }
        flush()
        return tables
    }

    static func datum(_ text: String) throws -> OVSDBDatum {
        if text.hasPrefix("[") && text.hasSuffix("]") {
            return .set(try items(String(text.dropFirst().dropLast())).map(atom))
        }
        if text.hasPrefix("{") && text.hasSuffix("}") {
            return .map(try items(String(text.dropFirst().dropLast())).map { item in
                guard let eq = firstUnquoted("=", in: item) else { throw OVSDBError.malformed("map item \(item)") }
                return (try atom(String(item[..<eq])), try atom(String(item[item.index(after: eq)...])))
            })
        }
        return .set([try atom(text)])
    }

    static func firstUnquoted(_ c: Character, in s: String) -> String.Index? {
        var inQuote = false
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "\\" && inQuote { i = s.index(after: i) } else if s[i] == "\"" { inQuote.toggle() } else if s[i] == c && !inQuote { return i }
            i = s.index(after: i)
        }
        return nil
    }

    static func items(_ s: String) throws -> [String] {
        var out: [String] = []
        var current = ""
        var inQuote = false
        var escape = false
        for ch in s {
            if escape { current.append(ch); escape = false; continue }
            if ch == "\\" && inQuote { current.append(ch); escape = true; continue }
            if ch == "\"" { inQuote.toggle() }
            if ch == "," && !inQuote {
                out.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(ch)
            }
        }
        let last = current.trimmingCharacters(in: .whitespaces)
        if !last.isEmpty { out.append(last) }
        return out
    }

    static func atom(_ raw: String) throws -> OVSDBAtom {
        let s = raw.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("\"") && s.hasSuffix("\"") && s.count >= 2 {
            var out = ""
            var escape = false
            for ch in s.dropFirst().dropLast() {
                if escape { out.append(ch == "n" ? "\n" : ch); escape = false } else if ch == "\\" { escape = true } else { out.append(ch) }
            }
            return .string(out)
        }
        if s == "true" { return .boolean(true) }
        if s == "false" { return .boolean(false) }
        if let i = Int64(s) { return .integer(i) }
        if isUUID(s) { return .uuid(s) }
        return .string(s)
    }
}

/// An OVSDB server in the test process, on a real unix socket, answering with a script: a
/// function from each request to the messages to send back (replies, echo requests,
/// notifications, garbage, or nothing). Requests are recorded.
final class ScriptedOVSDBServer: @unchecked Sendable {
    let path: String
    private let listener: Int32
    private let lock = NSLock()
    private var recordedRequests: [JSONValue] = []
    private var recordedEchoReplies: [JSONValue] = []
    let script: @Sendable (JSONValue) -> [String]
    private let done = DispatchSemaphore(value: 0)

    var requests: [JSONValue] { lock.lock(); defer { lock.unlock() }; return recordedRequests }
    var echoReplies: [JSONValue] { lock.lock(); defer { lock.unlock() }; return recordedEchoReplies }

    init(script: @escaping @Sendable (JSONValue) -> [String]) throws {
        path = "/tmp/hsovs-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        self.script = script
        unlink(path)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let r = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(r == 0, "bind \(path)")
        try #require(listen(listener, 4) == 0)
        let t = Thread { [self] in serve() }
        t.start()
    }

    private func serve() {
        defer { done.signal() }
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            while let end = JSONReader.completeValueEnd(in: buffer, from: 0) {
                var reader = JSONReader(bytes: buffer)
                guard let message = try? reader.value() else { return }
                buffer.removeFirst(end)
                lock.lock()
                if message["method"] == nil { recordedEchoReplies.append(message) } else { recordedRequests.append(message) }
                lock.unlock()
                if message["method"] == nil { continue }
                for out in script(message) {
                    let bytes = Array(out.utf8)
                    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }

    /// `{"id": ID, "result": RESULT, "error": null}` for a request.
    static func reply(_ request: JSONValue, _ result: JSONValue) -> String {
        JSONValue.object([("id", request["id"] ?? .null), ("result", result), ("error", .null)]).description
    }
}

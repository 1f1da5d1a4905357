import Foundation
import HopscopeModel

/// A network namespace found on the machine, with the ways to reach it: its names and the
/// processes inside. `open()` turns it into a file descriptor that pins it.
public struct DiscoveredNamespace: Sendable, Hashable {
    public var namespace: NetworkNamespace
    /// Paths that lead to it, best first: /run/netns/NAME, then /proc/PID/ns/net for each process.
    public var paths: [String]

    public init(namespace: NetworkNamespace, paths: [String]) {
        self.namespace = namespace
        self.paths = paths
    }

    /// Opens the namespace by the first path that still leads to the same inode, so a name that
    /// was deleted, or a pid that exited or was reused, is never mistaken for it. The returned
    /// descriptor keeps the namespace alive until it is closed.
    ///
    /// Throws `NamespaceGoneError` when no path leads to it any more, `SystemCallError` (EACCES,
    /// EPERM) when access is denied.
    public func open() throws -> Int32 {
        var denied: SystemCallError?
        for path in paths {
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                let e = errno
                if e == EACCES || e == EPERM { denied = SystemCallError(operation: "open \(path)", errno: e, context: "netns \(namespace.label)") }
                continue
            }
            var st = stat()
            if fstat(fd, &st) == 0, UInt64(st.st_ino) == namespace.inode { return fd }
            close(fd)
        }
        if let denied { throw denied }
        throw NamespaceGoneError(label: namespace.label, inode: namespace.inode)
    }
}

/// The namespace no longer exists (its name was removed and its last process exited) between
/// discovery and reading.
public struct NamespaceGoneError: Error, CustomStringConvertible, Sendable {
    public var label: String
    public var inode: UInt64
    public var description: String { "network namespace \(label) (net:[\(inode)]) disappeared during the scan" }
}

/// Finds every network namespace of the machine: named ones (`ip netns`, under /run/netns and
/// /var/run/netns) and unnamed ones held by processes (/proc/PID/ns/net), each once, by inode.
///
/// Reading other processes' namespace links needs root (CAP_SYS_PTRACE); without it only the
/// namespaces of the caller's own processes and the named ones are seen.
public enum NamespaceDiscovery {
    /// Lists the namespaces. `processes: false` skips the process table walk (faster; then only
    /// named namespaces and the caller's own are found). Directories are parameters for tests.
    public static func discover(
        includeProcesses: Bool = true,
        runDirectories: [String] = ["/run/netns", "/var/run/netns"],
        procRoot: String = "/proc"
    ) -> (namespaces: [DiscoveredNamespace], problems: [String]) {
        var byInode: [UInt64: DiscoveredNamespace] = [:]
        var order: [UInt64] = []
        var problems: [String] = []
        func entry(_ inode: UInt64) -> DiscoveredNamespace {
            byInode[inode] ?? DiscoveredNamespace(namespace: NetworkNamespace(label: "", inode: inode), paths: [])
        }
        func store(_ d: DiscoveredNamespace) {
            if byInode[d.namespace.inode] == nil { order.append(d.namespace.inode) }
            byInode[d.namespace.inode] = d
        }

        let hostInode = inode(of: "\(procRoot)/1/ns/net")
        let ownInode = inode(of: "\(procRoot)/self/ns/net")
        if let own = ownInode {
            var d = entry(own)
            d.paths.append("\(procRoot)/self/ns/net")
            store(d)
        }

        // /var/run is usually a link to /run: the same directory is read once (by its inode).
        var seenDirectories = Set<UInt64>()
        let nsfsDevice = device(of: "\(procRoot)/self/ns/net")
        for dir in runDirectories {
            guard let dirInode = inode(of: dir), seenDirectories.insert(dirInode).inserted,
                  let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() {
                let path = "\(dir)/\(name)"
                var st = stat()
                guard stat(path, &st) == 0, nsfsDevice != nil, UInt64(st.st_dev) == nsfsDevice else {
                    problems.append("\(path) is not a mounted network namespace (a leftover of a deleted namespace?)")
                    continue
                }
                let ino = UInt64(st.st_ino)
                var d = entry(ino)
                if !d.namespace.names.contains(name) { d.namespace.names.append(name) }
                d.paths.insert(path, at: d.namespace.names.count - 1)
                store(d)
            }
        }

        if includeProcesses, let pids = try? FileManager.default.contentsOfDirectory(atPath: procRoot) {
            for pidText in pids {
                guard let pid = Int32(pidText) else { continue }
                let nsPath = "\(procRoot)/\(pid)/ns/net"
                guard let ino = inode(of: nsPath) else { continue }
                guard let command = commandLine(procRoot: procRoot, pid: pid) else { continue }
                var d = entry(ino)
                d.namespace.processes.append(NamespaceProcess(pid: pid, command: command))
                d.paths.append(nsPath)
                store(d)
            }
        }

        var result: [DiscoveredNamespace] = []
        var usedLabels = Set<String>()
        for ino in order {
            guard var d = byInode[ino] else { continue }
            d.namespace.processes.sort { $0.pid < $1.pid }
            d.namespace.isHost = ino == hostInode
            // Name paths first, then processes by pid, then our own /proc/self link.
            let own = d.paths.filter { $0.hasPrefix("\(procRoot)/self/") }
            d.paths = d.paths.filter { !$0.hasPrefix("\(procRoot)/self/") } + own
            var label = d.namespace.names.first
                ?? (d.namespace.isHost ? "host" : d.namespace.processes.first.map { "pid:\($0.pid)" })
                ?? (ino == ownInode ? "self" : "net:[\(ino)]")
            if usedLabels.contains(label) { label = "net:[\(ino)]" }
            usedLabels.insert(label)
            d.namespace.label = label
            result.append(d)
        }
        // Host first, then named namespaces by name, then the rest by label.
        result.sort { a, b in
            if a.namespace.isHost != b.namespace.isHost { return a.namespace.isHost }
            let an = !a.namespace.names.isEmpty, bn = !b.namespace.names.isEmpty
            if an != bn { return an }
            return readsBefore(a.namespace.label, b.namespace.label)
        }
        return (result, problems)
    }

    /// Orders names the way people read them: runs of digits by their value (`qr2` before
    /// `qr10`), letters regardless of case; names equal that way fall back to byte order, so the
    /// order is total. (Foundation's `localizedStandardCompare` does the same through ICU, at
    /// tens of thousands of instructions per comparison.)
    static func readsBefore(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        func folded(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
        var i = 0, j = 0
        while i < x.count, j < y.count {
            guard isDigit(x[i]), isDigit(y[j]) else {
                if folded(x[i]) != folded(y[j]) { return folded(x[i]) < folded(y[j]) }
                i += 1
                j += 1
                continue
            }
            // Compare the two numbers without leading zeros: the longer is larger, else digit by digit.
            var iEnd = i, jEnd = j
            while iEnd < x.count, isDigit(x[iEnd]) { iEnd += 1 }
            while jEnd < y.count, isDigit(y[jEnd]) { jEnd += 1 }
            while i < iEnd - 1, x[i] == 48 { i += 1 }
            while j < jEnd - 1, y[j] == 48 { j += 1 }
            if iEnd - i != jEnd - j { return iEnd - i < jEnd - j }
            while i < iEnd {
                if x[i] != y[j] { return x[i] < y[j] }
                i += 1
                j += 1
            }
        }
        if x.count - i != y.count - j { return x.count - i < y.count - j }
        return a < b
    }

    /// The nsfs inode a namespace file or /proc link designates. Wraps `stat`.
    public static func inode(of path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// The device of nsfs, where every namespace file lives: a name under /run/netns on another
    /// device is a leftover file of a deleted namespace.
    static func device(of path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt64(st.st_dev)
    }

    /// The command line of a process, arguments joined by spaces; nil for kernel threads (empty
    /// cmdline) and processes that exited.
    static func commandLine(procRoot: String, pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "\(procRoot)/\(pid)/cmdline"), !data.isEmpty else { return nil }
        var parts = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        while parts.last == "" { parts.removeLast() }
        let line = parts.joined(separator: " ")
        return line.isEmpty ? nil : line
    }
}

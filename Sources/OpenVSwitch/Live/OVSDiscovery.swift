import Foundation
import HopscopeModel
import Namespaces

/// Finds every Open vSwitch on the machine from the process table: each `ovs-vswitchd` with the
/// `ovsdb-server` whose `punix:` socket it uses, their run directory (OVS_RUNDIR, pidfile or socket
/// directory), the unixctl socket `RUNDIR/ovs-vswitchd.PID.ctl`, and the network namespace the
/// switch runs in (by inode, named from /run/netns).
///
/// Reads /proc only; needs root to read other users' /proc/PID/environ (without it the run
/// directory falls back to the pidfile or socket directory). Never fails: an unreadable process
/// is skipped.
public enum OVSDiscovery {
    /// A process as discovery sees it.
    struct Daemon {
        var pid: Int32
        var program: String
        var arguments: [String]
        var environment: [String: String]
        var netnsInode: UInt64?
    }

    /// All instances found, ordered by node name. A normal host yields one (the default
    /// `/var/run/openvswitch/db.sock`); the lab several.
    public static func discover(proc: String = "/proc") -> [OVSInstanceInfo] {
        let daemons = scan(proc: proc)
        let names = NamespaceNames(proc: proc)
        var out: [OVSInstanceInfo] = []
        var usedServers = Set<Int32>()
        let servers = daemons.filter { $0.program == "ovsdb-server" }
        for v in daemons where v.program == "ovs-vswitchd" {
            let rundir = runDirectory(v)
            let dbTarget = v.arguments.dropFirst().first { $0.hasPrefix("unix:") } ?? "unix:\(rundir)/db.sock"
            let dbPath = String(dbTarget.dropFirst(5))
            let server = servers.first { serverSockets($0).contains(dbPath) }
            if let server { usedServers.insert(server.pid) }
            var ctl = option("--unixctl", in: v.arguments)
            if ctl == nil {
                let candidate = "\(rundir)/ovs-vswitchd.\(v.pid).ctl"
                if FileManager.default.fileExists(atPath: candidate) { ctl = candidate }
            }
            let (node, ns) = names.node(forInode: v.netnsInode)
            out.append(OVSInstanceInfo(node: node, namespace: ns, databaseSocket: dbTarget, runDirectory: rundir,
                                       controlSocket: ctl, ovsdbServerPID: server?.pid, vswitchdPID: v.pid, namespaceInode: v.netnsInode))
        }
        for s in servers where !usedServers.contains(s.pid) {
            guard let sock = serverSockets(s).first else { continue }
            let (node, ns) = names.node(forInode: s.netnsInode)
            out.append(OVSInstanceInfo(node: node, namespace: ns, databaseSocket: "unix:\(sock)", runDirectory: runDirectory(s),
                                       controlSocket: nil, ovsdbServerPID: s.pid, vswitchdPID: nil, namespaceInode: s.netnsInode))
        }
        return out.sorted { $0.node < $1.node }
    }

    /// The instance for an explicit `--ovsdb unix:PATH`: matched against discovered ones, or
    /// described from the path alone (run directory = the socket's directory).
    public static func instance(forDatabase target: String, proc: String = "/proc") -> OVSInstanceInfo {
        let normalized = target.hasPrefix("unix:") ? target : "unix:\(target)"
        if let found = discover(proc: proc).first(where: { $0.databaseSocket == normalized }) { return found }
        let dir = (String(normalized.dropFirst(5)) as NSString).deletingLastPathComponent
        var ctl: String?
        if let pid = try? String(contentsOfFile: "\(dir)/ovs-vswitchd.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           FileManager.default.fileExists(atPath: "\(dir)/ovs-vswitchd.\(pid).ctl") {
            ctl = "\(dir)/ovs-vswitchd.\(pid).ctl"
        }
        return OVSInstanceInfo(node: hostName(), namespace: nil, databaseSocket: normalized, runDirectory: dir,
                               controlSocket: ctl, ovsdbServerPID: nil, vswitchdPID: nil)
    }

    static func scan(proc: String) -> [Daemon] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: proc) else { return [] }
        var out: [Daemon] = []
        for e in entries {
            guard let pid = Int32(e) else { continue }
            guard let comm = try? String(contentsOfFile: "\(proc)/\(e)/comm", encoding: .utf8) else { continue }
            let program = comm.trimmingCharacters(in: .whitespacesAndNewlines)
            guard program == "ovsdb-server" || program == "ovs-vswitchd" else { continue }
            guard let cmd = FileManager.default.contents(atPath: "\(proc)/\(e)/cmdline"), !cmd.isEmpty else { continue }  // zombies have none
            let args = cmd.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }.filter { !$0.isEmpty }
            var env: [String: String] = [:]
            if let data = FileManager.default.contents(atPath: "\(proc)/\(e)/environ") {
                for item in data.split(separator: 0) {
                    let s = String(decoding: item, as: UTF8.self)
                    if let eq = s.firstIndex(of: "="), s.hasPrefix("OVS_") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
                }
            }
            out.append(Daemon(pid: pid, program: program, arguments: args, environment: env, netnsInode: NamespaceDiscovery.inode(of: "\(proc)/\(e)/ns/net")))
        }
        return out.sorted { $0.pid < $1.pid }
    }

    static func option(_ name: String, in args: [String]) -> String? {
        for (i, a) in args.enumerated() {
            if a.hasPrefix(name + "=") { return String(a.dropFirst(name.count + 1)) }
            if a == name, i + 1 < args.count, !args[i + 1].hasPrefix("-") { return args[i + 1] }
        }
        return nil
    }

    static func serverSockets(_ d: Daemon) -> [String] {
        var out: [String] = []
        for (i, a) in d.arguments.enumerated() {
            var value: String?
            if a.hasPrefix("--remote=") { value = String(a.dropFirst(9)) } else if a == "--remote", i + 1 < d.arguments.count { value = d.arguments[i + 1] }
            if let v = value, v.hasPrefix("punix:") { out.append(String(v.dropFirst(6))) }
        }
        return out
    }

    static func runDirectory(_ d: Daemon) -> String {
        if let r = d.environment["OVS_RUNDIR"] { return r }
        if let pidfile = option("--pidfile", in: d.arguments) { return (pidfile as NSString).deletingLastPathComponent }
        if d.program == "ovsdb-server", let s = serverSockets(d).first { return (s as NSString).deletingLastPathComponent }
        if let db = d.arguments.dropFirst().first(where: { $0.hasPrefix("unix:") }) {
            return (String(db.dropFirst(5)) as NSString).deletingLastPathComponent
        }
        return "/var/run/openvswitch"
    }

    static func hostName() -> String {
        var buf = [UInt8](repeating: 0, count: 256)
        guard buf.withUnsafeMutableBufferPointer({ p in p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: 256) { gethostname($0, 255) } }) == 0 else { return "localhost" }
        return String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// Names the namespaces the daemons run in, from the Namespaces module's discovery (named
/// namespaces under /run/netns and /var/run/netns, and PID 1's as the host).
struct NamespaceNames {
    var byInode: [UInt64: String] = [:]
    var initialInode: UInt64?

    init(proc: String = "/proc") {
        for d in NamespaceDiscovery.discover(includeProcesses: false, procRoot: proc).namespaces {
            if let name = d.namespace.names.first { byInode[d.namespace.inode] = name }
        }
        initialInode = NamespaceDiscovery.inode(of: "\(proc)/1/ns/net")
    }

    /// (node name, namespace name or nil for the initial namespace). An unnamed namespace that
    /// is not the host's is `net:[INODE]`, the label `hopscope namespaces` gives it too.
    func node(forInode inode: UInt64?) -> (String, String?) {
        guard let inode else { return (OVSDiscovery.hostName(), nil) }
        if let n = byInode[inode] { return (n, n) }
        if inode == initialInode { return (OVSDiscovery.hostName(), nil) }
        return ("net:[\(inode)]", nil)
    }
}

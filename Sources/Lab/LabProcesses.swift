import CShims
import Foundation

/// Reading the process table under /proc and stopping the lab's daemons by their recorded PIDs.
///
/// Nothing here looks processes up by name: a daemon is stopped only when its recorded PID still
/// runs a command line containing its marker (a path under the lab's state directory), and
/// stray processes are found only by living inside one of the lab's own namespaces.
enum ProcessTable {
    /// The one-letter state (`R`, `S`, `Z`, ...), parent PID and session ID of `pid`, or nil if
    /// it is gone.
    static func status(_ pid: Int32) -> (state: Character, parent: Int32, session: Int32)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After "pid (comm)" come: state ppid pgrp session ...; comm may hold spaces and parentheses.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count >= 4, let state = fields[0].first, let parent = Int32(fields[1]),
              let session = Int32(fields[3]) else { return nil }
        return (state, parent, session)
    }

    /// True when `pid` exists and has not finished exiting (a zombie leader with live threads has not).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let s = status(pid) else { return false }
        if s.state != "Z" && s.state != "X" { return true }
        // A multi-threaded daemon's leader turns zombie while its other threads are still exiting
        // and still hold its sockets and run directory: it has stopped only when they are gone.
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"))?.count ?? 0
        return threads > 1
    }

    /// The NUL-separated command line of `pid` joined with spaces ("" for kernel threads).
    static func commandLine(_ pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }

    /// True when the recorded process still runs and is still the lab's (marker in its command line).
    static func isLabProcessRunning(_ p: LabProcess) -> Bool {
        isRunning(p.pid) && (commandLine(p.pid)?.contains(p.marker) ?? false)
    }

    /// The PID written in a pid file, if the file exists and holds one.
    static func pid(fromFile path: String) -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Identity (device, inode) of the network namespace at an nsfs path such as
    /// `/run/netns/NAME` or `/proc/PID/ns/net`.
    static func namespaceIdentity(path: String) -> NamespaceIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return NamespaceIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// Every process whose network namespace is one of `namespaces`, excluding this process.
    static func processes(in namespaces: Set<NamespaceIdentity>) -> [Int32] {
        guard !namespaces.isEmpty,
              let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let me = getpid()
        return entries.compactMap { Int32($0) }.filter { pid in
            pid != me && (namespaceIdentity(path: "/proc/\(pid)/ns/net").map(namespaces.contains) ?? false)
        }
    }

    /// Stops `pids` with SIGTERM, waits up to `grace` for all of them, then SIGKILLs the rest and
    /// waits again; reaps those this process adopted. Returns the PIDs still running.
    ///
    /// Synchronous (it polls with short sleeps, a few seconds at most), so it also works in an
    /// exit handler where no task can run any more.
    @discardableResult
    static func stop(_ pids: [Int32], grace: Duration = .seconds(3)) -> [Int32] {
        let targets = pids.filter(isRunning)
        for pid in targets { kill(pid, SIGTERM) }
        var running = waitForExit(targets, within: grace)
        if !running.isEmpty {
            for pid in running { kill(pid, SIGKILL) }
            running = waitForExit(running, within: .seconds(2))
        }
        // A multi-threaded daemon's leader can be reaped only once all its threads are gone.
        let deadline = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < deadline {
            reapAdoptedZombies()
            if !pids.contains(where: isAdoptedZombie) { break }
            usleep(5_000)
        }
        return running
    }

    /// Polls until none of `pids` is running (zombies count as stopped) or `limit` passes.
    static func waitForExit(_ pids: [Int32], within limit: Duration) -> [Int32] {
        let deadline = ContinuousClock.now + limit
        var running = pids.filter(isRunning)
        while !running.isEmpty && ContinuousClock.now < deadline {
            usleep(5_000)
            running = running.filter(isRunning)
        }
        return running
    }

    /// True when `pid` is a zombie whose exit this process must collect: its child, in another
    /// session. Daemons call setsid(), so a child in another session is one this process adopted
    /// as subreaper (see `LabReaper`); children it started itself (and whose exit status their
    /// launcher is waiting for) share its session and are left alone.
    static func isAdoptedZombie(_ pid: Int32) -> Bool {
        guard let s = status(pid), s.state == "Z", s.parent == getpid() else { return false }
        return s.session != getsid(0)
    }

    /// Collects the exit status of every adopted zombie (daemons of the lab that were stopped, and
    /// the intermediate child dnsmasq leaves when it daemonizes), so none stays in the process table.
    static func reapAdoptedZombies() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for pid in entries.compactMap({ Int32($0) }) where isAdoptedZombie(pid) {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
        }
    }
}

/// Deletes the named network namespace the way `ip netns del` does: detaches the bind mount
/// that keeps it alive and removes its file under /run/netns. The namespace itself goes away
/// once no process and no open file holds it. Wraps `umount2(MNT_DETACH)` and `unlink`.
func deleteNamedNamespace(_ name: String) throws {
    try deleteNamespaceMount("/run/netns/\(name)", step: "deleting namespace \(name)")
}

/// Unmounts and removes a file that holds a namespace by a bind mount (a `/run/netns` name, or
/// the file the `veth-peer-hidden` fault keeps its unnamed namespace with); the namespace goes
/// when nothing else holds it. Missing files are fine.
func deleteNamespaceMount(_ path: String, step: String) throws {
    if umount2(path, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
        throw LabError.setupFailed(step: step, detail: "umount \(path): \(String(cString: strerror(errno)))")
    }
    if unlink(path) != 0 && errno != ENOENT {
        throw LabError.setupFailed(step: step, detail: "unlink \(path): \(String(cString: strerror(errno)))")
    }
}

/// The identity of a network namespace: the device and inode of its nsfs file.
struct NamespaceIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
}

/// Makes this process the reaper of the daemons it starts.
public enum LabReaper {
    /// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`): daemons that detach
    /// (`--detach`, dnsmasq's double fork) are re-parented to it instead of PID 1, and `Lab.down()`
    /// then collects their exit status, so no zombie is left behind.
    ///
    /// Meant for long-lived processes that bring labs up and down (the test runner); a short
    /// CLI invocation gains nothing, because its daemons outlive it. On machines whose PID 1 does
    /// not reap orphans, daemons stopped by a later process stay as zombies (harmless, see
    /// LAB-NOTES). Process-wide and idempotent. Wraps `prctl(PR_SET_CHILD_SUBREAPER)`.
    public static func adoptOrphanedDaemons() {
        _ = hs_set_child_subreaper()
    }
}

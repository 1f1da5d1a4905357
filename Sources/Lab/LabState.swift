import Foundation

/// What a lab has created, recorded on disk (`STATE_DIR/state.json`) before and as it is
/// created, so that `lab down` and the next `lab up` can remove a lab that was only half built
/// or whose builder crashed.
public struct LabState: Codable, Sendable, Equatable {
    public enum Phase: String, Codable, Sendable {
        /// `lab up` is (or was, if it crashed) building the lab.
        case building
        /// The lab was completely built.
        case up
        /// `lab down` is (or was) removing it.
        case tearingDown
    }

    public var phase: Phase
    public var plan: LabPlan
    /// Namespaces recorded before they were created (some may not exist if building stopped).
    public var namespaces: [String]
    /// Directories outside the state directory the lab made (`/etc/netns/<ns>/`).
    public var externalDirectories: [String]
    /// Daemons the lab started, by recorded PID.
    public var processes: [LabProcess]
    /// Faults applied with `lab break`, oldest first.
    public var appliedFaults: [String]
    public var createdAt: Date

    public init(plan: LabPlan, externalDirectories: [String]) {
        phase = .building
        self.plan = plan
        namespaces = plan.namespaces
        self.externalDirectories = externalDirectories
        processes = []
        appliedFaults = []
        createdAt = Date()
    }

    /// The recorded process with `role`, if any.
    public func process(_ role: LabProcess.Role, node: String? = nil) -> LabProcess? {
        processes.last { $0.role == role && (node == nil || $0.namespace == node) }
    }
}

/// A daemon the lab started, known by the PID its pid file gave.
///
/// `marker` is a path that appears in the daemon's command line (its pid file or rundir):
/// before signalling a recorded PID the lab checks `/proc/PID/cmdline` still contains it, so a
/// reused PID is never signalled.
public struct LabProcess: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable {
        case ovsdbServer = "ovsdb-server"
        case ovsVswitchd = "ovs-vswitchd"
        case dhcpServer = "dnsmasq (DHCP agent)"
        case upstreamDNS = "dnsmasq (upstream DNS)"
        /// The process holding a tap instance's tap device (`hopscope lab guest`).
        case tapGuest = "tap guest"
    }
    public var role: Role
    public var namespace: String
    public var pid: Int32
    public var pidFile: String
    public var marker: String
}

/// Reads and writes `state.json` atomically (write to a temporary file, then rename), so a
/// crash never leaves a half-written state.
struct LabStateStore: Sendable {
    let directory: String
    var path: String { "\(directory)/state.json" }

    func load() throws -> LabState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(LabState.self, from: data)
    }

    func save(_ state: LabState) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(state)
        try writeAtomically(data, to: path)
    }
}

/// Writes `data` to `path` through a temporary file in the same directory and a rename.
func writeAtomically(_ data: Data, to path: String, permissions: Int = 0o644) throws {
    let tmp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: permissions]) else {
        throw LabError.setupFailed(step: "writing \(path)", detail: "could not create \(tmp)")
    }
    if rename(tmp, path) != 0 {
        let e = errno
        unlink(tmp)
        throw LabError.setupFailed(step: "writing \(path)", detail: String(cString: strerror(e)))
    }
}

/// An exclusive lock on one lab (a `flock` on `ROOT/.lab-PREFIX.lock`), held for the duration of
/// `up`, `down`, `break` and `repair`, so two commands never build or tear down the same lab at
/// once. Released by `unlock()` (and by the kernel if the process dies).
final class LabLock: @unchecked Sendable {
    let path: String
    private var fd: Int32 = -1

    init(path: String) { self.path = path }

    /// Takes the lock, waiting up to `timeout` for another holder; throws `LabError.busy`.
    func lock(timeout: Duration = .seconds(120)) async throws {
        let descriptor = try openLockFile()
        let deadline = ContinuousClock.now + timeout
        while try !attempt(descriptor, deadline: deadline) {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Takes the lock like `lock(timeout:)`, blocking the calling thread while it waits.
    func lockBlocking(timeout: Duration = .seconds(30)) throws {
        let descriptor = try openLockFile()
        let deadline = ContinuousClock.now + timeout
        while try !attempt(descriptor, deadline: deadline) {
            usleep(20_000)
        }
    }

    /// One try at the lock: true when taken; false to wait and try again; throws (closing the
    /// descriptor) once `deadline` has passed or on another error.
    private func attempt(_ descriptor: Int32, deadline: ContinuousClock.Instant) throws -> Bool {
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
            fd = descriptor
            return true
        }
        guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
            close(descriptor)
            throw LabError.busy(lockFile: path)
        }
        return false
    }

    private func openLockFile() throws -> Int32 {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw LabError.setupFailed(step: "opening lock \(path)", detail: String(cString: strerror(errno)))
        }
        return descriptor
    }

    /// Releases the lock; with `removeFile`, also deletes the lock file (after `lab down`).
    func unlock(removeFile: Bool = false) {
        guard fd >= 0 else { return }
        if removeFile { unlink(path) }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}

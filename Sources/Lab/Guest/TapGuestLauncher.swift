import CShims
import Foundation
import HopscopeModel

/// Starts a tap instance's guest process the way libvirt starts qemu for a guest: inside the
/// compute node's namespace, in a session of its own (so it outlives `hopscope lab up`), its
/// output appended to `guest.log`, its PID recorded at once.
enum TapGuestLauncher {
    /// The environment variable that names the hopscope executable to run as the guest.
    static let executableVariable = "HOPSCOPE_EXECUTABLE"

    /// The hopscope executable that runs `hopscope lab guest`: `$HOPSCOPE_EXECUTABLE`, this
    /// program when it is hopscope, a `hopscope` next to it (the test runner's build directory),
    /// or one on PATH. Throws `missingTool` with how to build it.
    static func hopscopeExecutable() throws -> String {
        let fm = FileManager.default
        if let path = ProcessInfo.processInfo.environment[executableVariable], fm.isExecutableFile(atPath: path) { return path }
        if let me = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            if (me as NSString).lastPathComponent == "hopscope" { return me }
            let sibling = ((me as NSString).deletingLastPathComponent as NSString).appendingPathComponent("hopscope")
            if fm.isExecutableFile(atPath: sibling) { return sibling }
        }
        if let found = Lab.findTool("hopscope") { return found }
        throw LabError.missingTool("hopscope (the tap guest runs as `hopscope lab guest`; build it with: swift build --product hopscope)",
                                   package: "none: it is this project's executable")
    }

    /// Spawns `argv` in a new session with stdin from /dev/null and stdout/stderr appended to
    /// `log`; returns its PID without waiting. Wraps `posix_spawn`.
    static func spawn(_ argv: [String], log: String) throws -> Int32 {
        guard let executable = Lab.findTool(argv[0]) else { throw LabError.missingTool(argv[0], package: "iproute2") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A clean signal state: nothing blocked, TERM/INT/PIPE/CHLD at their defaults.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(hs_posix_spawn_setsid() | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let rc = posix_spawn(&pid, executable, &actions, &attributes, cArgs, environ)
        guard rc == 0 else {
            throw LabError.setupFailed(step: "starting \(argv.joined(separator: " "))", detail: String(cString: strerror(rc)))
        }
        return pid
    }
}

extension LabRuntime {
    /// Starts the guest of `vm` (writing its configuration first), records its PID, and waits
    /// (up to 20 s) until it holds the lease of its planned address. Throws `setupFailed` with
    /// the end of the guest's log when it does not.
    func startTapGuest(_ vm: LabTapInstance) async throws {
        let fm = FileManager.default
        try? fm.removeItem(atPath: vm.directory)
        for dir in [vm.requestDirectory, vm.responseDirectory] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let config = configuration.tapGuestConfiguration(vm)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(config), to: vm.configurationFile)
        let executable = try TapGuestLauncher.hopscopeExecutable()
        let pid = try TapGuestLauncher.spawn(["ip", "netns", "exec", vm.namespace, executable, "lab", "guest", vm.directory],
                                             log: vm.logFile)
        let process = LabProcess(role: .tapGuest, namespace: vm.namespace, pid: pid, pidFile: vm.pidFile, marker: vm.directory)
        try await recorder.update { state in
            state.processes.removeAll { $0.marker == vm.directory }
            state.processes.append(process)
        }
        let step = "\(vm.name) (tap guest, PID \(pid)) asking for its address by DHCP"
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let status = try? TapGuestControl.status(of: vm), let lease = status.lease, status.dhcpState == .bound {
                guard lease.address == vm.address else {
                    throw LabError.setupFailed(step: step, detail: "it was given \(lease.address) instead of \(vm.address)")
                }
                return
            }
            guard ProcessTable.isRunning(pid) else {
                throw LabError.setupFailed(step: step, detail: "the guest exited: \(TapGuestControl.logTail(vm))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LabError.setupFailed(step: step, detail: "no lease within 20 s: \(TapGuestControl.logTail(vm))")
    }
}

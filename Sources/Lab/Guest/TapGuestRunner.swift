import CShims
import Foundation
import HopscopeModel
import Synchronization

/// The tap guest's process (`hopscope lab guest DIR`): attaches to the tap device named in
/// `DIR/config.json`, runs a `TapGuestStack` on it until SIGTERM or SIGINT, and keeps
/// `DIR/status.json` up to date. Commands arrive as files in `DIR/requests/`, outcomes leave
/// in `DIR/responses/` (see `TapGuestControl`).
///
/// The lab starts it with `ip netns exec <compute node>`, so the whole process lives in the
/// compute node's namespace and the tap is found there. One dedicated thread owns the tap
/// descriptor and the stack: it waits in `poll` (100 ms at most, which paces timers and command
/// pickup), reads every queued frame and writes the replies. On SIGTERM it releases its lease,
/// writes its final status and exits.
public enum TapGuestRunner {
    /// Set from the signal handler; read by the loop.
    static let stopRequested = Atomic<Bool>(false)

    /// Runs the guest whose directory is `directory`; returns when it is told to stop.
    /// Throws `LabError.setupFailed` when the configuration cannot be read or the tap cannot be
    /// opened (the message names the device and the errno).
    public static func run(directory: String) throws {
        guard let data = FileManager.default.contents(atPath: "\(directory)/config.json") else {
            throw LabError.setupFailed(step: "starting the tap guest", detail: "no configuration at \(directory)/config.json")
        }
        let config = try JSONDecoder().decode(TapGuestConfiguration.self, from: data)
        for sub in ["requests", "responses"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        let fd = try openTap(config.tapDevice)
        try writeAtomically(Data("\(getpid())\n".utf8), to: "\(directory)/pid")
        for sig in [SIGTERM, SIGINT] {
            signal(sig) { _ in TapGuestRunner.stopRequested.store(true, ordering: .relaxed) }
        }
        signal(SIGPIPE, SIG_IGN)

        let done = DispatchSemaphore(value: 0)
        let loop = GuestLoop(config: config, fd: fd)
        let thread = Thread {
            loop.run()
            done.signal()
        }
        thread.name = "tap guest \(config.name)"
        thread.start()
        done.wait()
        close(fd)
    }

    /// Opens /dev/net/tun and attaches to `name` as a tap without packet information.
    static func openTap(_ name: String) throws -> Int32 {
        let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            throw LabError.setupFailed(step: "opening /dev/net/tun", detail: String(cString: strerror(errno)))
        }
        guard hs_tun_attach(fd, name) == 0 else {
            let e = errno
            close(fd)
            throw LabError.setupFailed(step: "attaching to tap device \(name) (TUNSETIFF)", detail: String(cString: strerror(e)))
        }
        return fd
    }
}

/// The guest's event loop: owned by one thread from start to end.
final class GuestLoop: @unchecked Sendable {
    let config: TapGuestConfiguration
    let fd: Int32
    var stack: TapGuestStack
    let start = ContinuousClock.now
    var writtenGeneration = -1
    var acknowledgedAt: Date?
    var lastBoundAt = -1.0
    var buffer = [UInt8](repeating: 0, count: 65_536)
    var writeErrorLogged = false

    init(config: TapGuestConfiguration, fd: Int32) {
        self.config = config
        self.fd = fd
        stack = TapGuestStack(identity: config.identity, allowedTargets: config.allowedTargets,
                              seed: UInt32.random(in: 1...UInt32.max))
    }

    var now: Double { StepTimer.seconds(ContinuousClock.now - start) }

    func run() {
        log("attached to \(config.tapDevice) as \(config.identity.mac); asking for an address by DHCP")
        send(stack.start(now: now))
        while !TapGuestRunner.stopRequested.load(ordering: .relaxed) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 100)
            if ready > 0 && pfd.revents & Int16(POLLIN) != 0 { readFrames() }
            if ready > 0 && pfd.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                log("the tap device reported an error; stopping")
                break
            }
            send(stack.tick(now: now))
            pickUpRequests()
            publish()
        }
        send(stack.release(now: now))
        publish(running: false)
        log("stopped")
    }

    /// Reads every frame queued on the tap (one per read), up to a bound per wake-up.
    func readFrames() {
        for _ in 0..<256 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            send(stack.receive(Array(buffer[0..<n]), now: now))
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 0) > 0 else { return }
        }
    }

    func send(_ frames: [[UInt8]]) {
        for frame in frames {
            let n = frame.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            // A tap that is down refuses writes (EIO), like a guest NIC without link: the frames are lost.
            if n < 0 && !writeErrorLogged {
                log("cannot send on \(config.tapDevice): \(String(cString: strerror(errno)))")
                writeErrorLogged = true
            } else if n >= 0 {
                writeErrorLogged = false
            }
        }
    }

    func pickUpRequests() {
        let directory = "\(config.directory)/requests"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names.sorted() where name.hasSuffix(".json") {
            let path = "\(directory)/\(name)"
            let data = FileManager.default.contents(atPath: path)
            try? FileManager.default.removeItem(atPath: path)
            guard let data, let request = try? JSONDecoder().decode(TapGuestRequest.self, from: data) else {
                log("ignored an unreadable request \(name)")
                continue
            }
            log("command \(request.id): \(request.command)")
            send(stack.perform(request.command, id: request.id, now: now))
        }
    }

    /// Writes finished outcomes and, when the lease or DHCP state changed, the status file.
    func publish(running: Bool = true) {
        for outcome in stack.takeFinished() {
            log("command \(outcome.id): \(outcome.succeeded ? "done" : "failed"): \(outcome.detail)")
            if let data = try? JSONEncoder().encode(outcome) {
                try? writeAtomically(data, to: "\(config.directory)/responses/\(outcome.id).json")
            }
        }
        guard stack.leaseGeneration != writtenGeneration || !running else { return }
        writtenGeneration = stack.leaseGeneration
        if let lease = stack.lease, lease.boundAt != lastBoundAt {
            acknowledgedAt = Date()
            lastBoundAt = lease.boundAt
            log("DHCPACK: \(lease.address)/\(lease.prefixLength) router \(lease.router.map { "\($0)" } ?? "none") "
                + "mtu \(lease.effectiveMTU) lease \(lease.leaseSeconds) s from \(lease.serverID)")
        }
        let status = TapGuestStatus(name: config.name, pid: getpid(), dhcpState: stack.dhcpState, lease: stack.lease,
                                    acknowledgedAt: acknowledgedAt, updatedAt: Date(), running: running)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        if let data = try? encoder.encode(status) { try? writeAtomically(data, to: "\(config.directory)/status.json") }
    }

    func log(_ text: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        FileHandle.standardError.write(Data("\(stamp) \(config.name): \(text)\n".utf8))
    }
}

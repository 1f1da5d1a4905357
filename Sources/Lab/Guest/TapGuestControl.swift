import Foundation
import HopscopeModel

/// What the guest process starts from: written by the lab to `config.json` in the guest's
/// directory before the process starts.
public struct TapGuestConfiguration: Codable, Sendable, Equatable {
    public var name: String
    /// The tap device to attach to, in the namespace the process runs in.
    public var tapDevice: String
    public var identity: TapGuestStack.Identity
    /// The only destinations the guest pings: the lab's own subnets and addresses.
    public var allowedTargets: [IPPrefix]
    public var directory: String
}

/// What the guest has learned, written by the guest to `status.json` whenever it changes (and
/// when it stops): its DHCP state and lease.
public struct TapGuestStatus: Codable, Sendable, Equatable {
    public var name: String
    public var pid: Int32
    public var dhcpState: TapGuestStack.DHCPState
    public var lease: TapGuestLease?
    /// Wall-clock time of the last DHCPACK.
    public var acknowledgedAt: Date?
    public var updatedAt: Date
    /// False once the guest has stopped (it releases its lease on the way out).
    public var running: Bool
}

/// One command for the guest: a file `requests/<id>.json`, answered by `responses/<id>.json`.
public struct TapGuestRequest: Codable, Sendable, Equatable {
    public var id: String
    public var command: TapGuestStack.Command
}

/// The lab's side of the guest's control files: sends a command and waits for its outcome,
/// reads the status. Files are written atomically (temporary name, then rename) so neither side
/// ever reads half a file. Safe to call from concurrent tasks: every request has its own id.
enum TapGuestControl {
    /// How long a command may take before the guest is considered stuck.
    static func timeout(for command: TapGuestStack.Command) -> Duration {
        switch command {
        case .ping(_, let count, _):
            // ARP (3 tries, 1 s apart), the pings 0.2 s apart, the last reply's 1 s, slack.
            .milliseconds(3000 + 200 * count + 1000 + 2000)
        case .dhcp, .renew:
            // Three DISCOVERs and three REQUESTs 1 s apart, slack.
            .seconds(8)
        }
    }

    static func send(_ command: TapGuestStack.Command, to guest: LabTapInstance) async throws -> TapGuestStack.Outcome {
        try requireRunning(guest)
        let id = "\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let request = try JSONEncoder().encode(TapGuestRequest(id: id, command: command))
        let requestFile = "\(guest.requestDirectory)/\(id).json"
        let responseFile = "\(guest.responseDirectory)/\(id).json"
        try writeAtomically(request, to: requestFile)
        let deadline = ContinuousClock.now + timeout(for: command)
        defer {
            try? FileManager.default.removeItem(atPath: requestFile)
            try? FileManager.default.removeItem(atPath: responseFile)
        }
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: responseFile) {
                return try JSONDecoder().decode(TapGuestStack.Outcome.self, from: data)
            }
            try requireRunning(guest)
            try await Task.sleep(for: .milliseconds(40))
        }
        throw LabError.guestNotAnswering(guest.name, logTail: logTail(guest))
    }

    static func status(of guest: LabTapInstance) throws -> TapGuestStatus? {
        guard let data = FileManager.default.contents(atPath: guest.statusFile) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(TapGuestStatus.self, from: data)
    }

    /// Throws `guestNotRunning` unless the PID in the guest's pid file runs the guest.
    static func requireRunning(_ guest: LabTapInstance) throws {
        guard let pid = ProcessTable.pid(fromFile: guest.pidFile), ProcessTable.isRunning(pid),
              ProcessTable.commandLine(pid)?.contains(guest.directory) == true else {
            throw LabError.guestNotRunning(guest.name, logTail: logTail(guest))
        }
    }

    /// The last lines of the guest's log, for error messages.
    static func logTail(_ guest: LabTapInstance, lines: Int = 3) -> String {
        guard let data = FileManager.default.contents(atPath: guest.logFile) else { return "" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: " | ")
    }
}

import Foundation

/// A Linux capability the operation needs and the process does not have, said in one sentence.
public struct MissingCapabilityError: Error, CustomStringConvertible, Sendable {
    /// `CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`, ...
    public var capabilities: [String]
    /// What it is needed for, in operator words.
    public var purpose: String

    public init(capabilities: [String], purpose: String) {
        self.capabilities = capabilities
        self.purpose = purpose
    }

    public var description: String {
        "\(purpose) needs \(capabilities.joined(separator: " and ")), which this process does not have; run hopscope as root (for example with sudo)."
    }
}

/// The effective capability set of this process (`CapEff` in /proc/self/status).
public enum Capabilities {
    public static let netAdmin = 12
    public static let sysPtrace = 19
    public static let sysAdmin = 21

    /// True when the capability numbered `bit` is effective.
    public static func has(_ bit: Int) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return geteuid() == 0 }
        return mask & (1 << UInt64(bit)) != 0
    }
}

import ArgumentParser
import Foundation

/// `hopscope`: where and why a packet stops on a Linux cloud node.
///
/// Exit codes, for every command: 0 healthy or success, 1 a problem was found, 2 usage or
/// runtime error.
@main
struct Hopscope: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hopscope",
        abstract: "Find where and why a packet stops on an OpenStack compute or network node.",
        discussion: """
            Hopscope reads interface state over netlink, Open vSwitch over OVSDB, iptables rules and
            live captures in every network namespace, builds a hop-by-hop model of the path from an
            instance to the external network and back, and names the hop, device, flow, rule or
            route where a packet stops.
            """,
        version: "0.1.0",
        subcommands: CommandGroups.all)

    /// Exit code 2 for usage and runtime errors, as the CLI contract says.
    static func exitCode(for error: any Error) -> ExitCode {
        if let e = error as? ExitCode { return e }
        return ExitCode(2)
    }
}

/// The subcommands, one list per area so that each area adds its own without touching the others.
enum CommandGroups {
    static var all: [any ParsableCommand.Type] {
        [] + netlink + lab + firewall + packets
    }
}

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

    /// Runs the chosen subcommand and maps failures onto the CLI contract: help and version exit
    /// 0, a command's own `ExitCode` (0 healthy, 1 problem found) passes through, and every usage
    /// or runtime error prints its message and exits 2 (swift-argument-parser alone would use 64
    /// for usage errors and 1 for runtime errors).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
    }
}

/// The subcommands, one list per area so that each area adds its own without touching the others.
enum CommandGroups {
    static var all: [any ParsableCommand.Type] {
        [] + netlink + packets + lab + firewall + ovs + capture + snapshot + path + diagnose + service
    }
}

import Foundation
import HopscopeModel
import Namespaces

extension FirewallDumps {
    /// Parses the dumps into an evaluator. Throws `FirewallParseError` naming the dump, line and column.
    public func evaluator() throws -> FirewallEvaluator {
        func parse(_ text: String?, _ family: IPFamily, _ name: String) throws -> FirewallRuleset? {
            guard let text, !text.isEmpty else { return nil }
            do { return try FirewallRuleset.parse(text, family: family) } catch var e as FirewallParseError {
                e.message = "\(name): \(e.message)"
                throw e
            }
        }
        return FirewallEvaluator(ipv4: try parse(iptablesSave, .ipv4, "iptables-save"),
                                 ipv6: try parse(ip6tablesSave, .ipv6, "ip6tables-save"),
                                 ipsets: try ipsetSave.map { try IPSetDump.parse($0) },
                                 interfaceAddresses: interfaceAddresses)
    }
}

/// Reads a namespace's live firewall state by running `iptables-save -c`, `ip6tables-save -c`,
/// `ipset save`, `sysctl` and `ip -j addr` inside it (through `HostCommand`). The parsers and the
/// evaluator never call this: they work on the texts it returns.
public enum LiveFirewall {
    /// Collects the dumps of namespace `ns`. A missing `ip6tables-save` or `ipset` leaves that
    /// field nil; a failing `iptables-save` throws `CommandError` (naming the namespace and stderr).
    public static func collect(in ns: NamespaceRef) async throws -> FirewallDumps {
        let rules = try await collectRules(in: ns, label: ns.description)
        var dumps = FirewallDumps(iptablesSave: rules.iptablesSave, ip6tablesSave: rules.ip6tablesSave, ipsetSave: rules.ipsetSave)
        dumps.bridgeCallsIptables = try await sysctlFlag("net.bridge.bridge-nf-call-iptables", in: ns)
        dumps.bridgeCallsIp6tables = try await sysctlFlag("net.bridge.bridge-nf-call-ip6tables", in: ns)
        dumps.interfaceAddresses = try await addresses(in: ns)
        return dumps
    }

    /// Runs the three save commands in `ns` (`label` names it in the result): `iptables-save -c`,
    /// `ip6tables-save -c`, `ipset save`. A missing ip6tables-save or ipset is a warning in the
    /// result (and ipset with no sets is nil); a failing `iptables-save` throws `CommandError`.
    public static func collectRules(in ns: NamespaceRef, label: String, timeout: Duration = .seconds(60)) async throws -> NamespaceFirewall {
        var rules = NamespaceFirewall(namespace: label)
        rules.iptablesSave = try await HostCommand.run(["iptables-save", "-c"], in: ns, timeout: timeout).standardOutput
        do {
            rules.ip6tablesSave = try await HostCommand.run(["ip6tables-save", "-c"], in: ns, timeout: timeout).standardOutput
        } catch {
            rules.warnings.append("ip6tables-save: \(error)")
        }
        do {
            let sets = try await HostCommand.run(["ipset", "save"], in: ns, timeout: timeout, check: false)
            if sets.succeeded {
                if !sets.standardOutput.isEmpty { rules.ipsetSave = sets.standardOutput }
            } else {
                rules.warnings.append("ipset save exited with status \(sets.exitCode): \(sets.standardError.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        } catch {
            rules.warnings.append("ipset: \(error)")
        }
        return rules
    }

    static func sysctlFlag(_ name: String, in ns: NamespaceRef) async throws -> Bool? {
        let r = try await HostCommand.run(["sysctl", "-n", name], in: ns, check: false)
        guard r.succeeded else { return nil }
        return r.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    /// Interface name to its addresses with prefix length, from `ip -j addr show`.
    public static func addresses(in ns: NamespaceRef) async throws -> [String: [IPPrefix]] {
        let out = try await HostCommand.run(["ip", "-j", "addr", "show"], in: ns).standardOutput
        guard let links = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] else { return [:] }
        var result: [String: [IPPrefix]] = [:]
        for link in links {
            guard let name = link["ifname"] as? String else { continue }
            var prefixes: [IPPrefix] = []
            for info in link["addr_info"] as? [[String: Any]] ?? [] {
                if let local = info["local"] as? String, let len = info["prefixlen"] as? Int, let a = IPAddress(local) {
                    prefixes.append(IPPrefix(address: a, length: len))
                }
            }
            result[name] = prefixes
        }
        return result
    }

    /// The kernel's routing decision for `packet` in `ns` (`ip -j route get`): local delivery or
    /// the output interface.
    public static func route(_ packet: PacketKey, inInterface: String?, in ns: NamespaceRef) async -> FirewallEvaluator.RouteDecision {
        guard let dst = packet.ipDst else { return .unknown("no destination address") }
        var argv = ["ip", "-j", packet.isIPv6 ? "-6" : "-4", "route", "get", "\(dst)"]
        if let src = packet.ipSrc, inInterface != nil { argv += ["from", "\(src)"] }
        if let inInterface { argv += ["iif", inInterface] }
        do {
            let out = try await HostCommand.run(argv, in: ns, timeout: .seconds(10)).standardOutput
            guard let routes = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]], let r = routes.first else {
                return .unknown("`\(argv.joined(separator: " "))` printed no route")
            }
            if (r["type"] as? String) == "local" { return .local }
            if let dev = r["dev"] as? String { return dev == "lo" ? .local : .forward(outInterface: dev) }
            return .unknown("`\(argv.joined(separator: " "))` printed no device")
        } catch {
            return .unknown("\(error)")
        }
    }
}

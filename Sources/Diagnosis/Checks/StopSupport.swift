import HopscopeModel
import PathTrace
import Topology

/// A walk that did not arrive, with the hop where it stopped (or could not go on).
public struct WalkStop: Sendable {
    public var walk: Int
    public var purpose: DiagnosisWalk.Purpose
    public var result: PathResult
    public var hop: PathHop
    /// True when the walk stopped (a drop); false when it could not be followed (unknown).
    public var dropped: Bool
}

extension DiagnosisContext {
    /// Every walk that stopped or could not go on, with its stop hop.
    public var stops: [WalkStop] {
        walkResults.compactMap { i, w, r in
            w.stopHop.map { WalkStop(walk: i, purpose: w.purpose, result: r, hop: $0, dropped: r.verdict.kind == .stopped) }
        }
    }

    /// The namespaces the walks cross (labels), and the instance's own: conditions elsewhere on
    /// the node do not concern this diagnosis.
    public var concernedNamespaces: Set<String> {
        var out = Set(walkResults.flatMap { $0.result.hops.map(\.namespace) })
        out.insert(instance.tap.namespace.label)
        return out
    }

    /// True when a switch's namespace is one the walks cross (or the instance's).
    func concerns(_ sw: Topology.SwitchNode) -> Bool {
        concernedNamespaces.contains(sw.namespace?.label ?? sw.info.namespace ?? "host")
    }

    /// How surely a condition at hop `hop` of walk `walk` explains the failure: `cause` when the
    /// walk stops there, `contributing` when it stops elsewhere or arrives.
    public func relevance(walk: Int, hop: Int) -> Relevance {
        walks[walk].stopHop?.index == hop ? .cause : .contributing
    }

    /// The first place a condition on `device` in `namespace` shows on a walk: the stop hop when
    /// a walk stops there, else the first hop of any walk at that device, else off the path.
    public func place(device: String, namespace: String, node: String) -> (location: FindingLocation, relevance: Relevance) {
        for s in stops where s.hop.device == device && s.hop.namespace == namespace {
            return (location(walk: s.walk, hop: s.hop), .cause)
        }
        for (i, _, r) in walkResults {
            if let h = r.hops.first(where: { $0.device == device && $0.namespace == namespace }) {
                return (location(walk: i, hop: h), .contributing)
            }
        }
        return (FindingLocation(node: node, namespace: namespace, device: device), .contributing)
    }

    /// The firewall rule that decided the drop at a hop: its last `firewallRule` evidence.
    public func decidingRule(_ hop: PathHop) -> Evidence? {
        hop.evidence.last { $0.kind == .firewallRule }
    }

    /// The chain a rule evidence's source names (`iptables filter CHAIN #3` -> `CHAIN`).
    public static func chain(of rule: Evidence) -> String? {
        let words = rule.source.split(separator: " ")
        return words.count >= 3 ? String(words[2]) : nil
    }

    /// The table a rule evidence's source names.
    public static func table(of rule: Evidence) -> String? {
        let words = rule.source.split(separator: " ")
        return words.count >= 2 ? String(words[1]) : nil
    }

    /// The command that lists a namespace's chain with counters and rule numbers.
    public func listChain(_ ns: NamespaceID?, table: String, chain: String) -> String {
        shell(ns, "iptables -t \(table) -L \(chain) -v -n --line-numbers")
    }

    /// The hop's place in words: `qbr1234 on compute1 (hsdiag-compute1)`.
    public static func where_(_ h: PathHop) -> String {
        "\(h.device ?? h.role) on \(h.node)" + (h.namespace == h.node ? "" : " (\(h.namespace))")
    }

    /// Which way the packet of a walk's hop goes, for titles: `icmp 10.0.0.11 > 203.0.113.1`.
    public static func packetText(_ h: PathHop) -> String { h.packet.shortText }
}

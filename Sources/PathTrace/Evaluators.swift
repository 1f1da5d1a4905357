import HopscopeModel
import Netfilter
import OpenVSwitch
import Topology

/// The evaluators a walk needs, compiled on first use and kept: one OpenFlow model per Open
/// vSwitch instance, one netfilter evaluator per namespace. Parsing thousands of flows and rules
/// happens once per walk, and only for the switches and namespaces the packet crosses.
///
/// Not thread-safe: one walk uses it at a time.
final class Evaluators {
    let topology: Topology
    private var models: [Int: Result<OpenFlowModel, any Error>] = [:]
    private var firewalls: [NamespaceID: FirewallState] = [:]

    enum FirewallState {
        /// No rule in any table: every hook accepts.
        case noRules
        case rules(FirewallEvaluator)
        /// Not collected or not parseable: verdicts are unknown with this reason.
        case unavailable(String)
    }

    init(topology: Topology) { self.topology = topology }

    func openFlow(_ switchIndex: Int) -> Result<OpenFlowModel, any Error> {
        if let m = models[switchIndex] { return m }
        let sw = topology.switches[switchIndex]
        let m = Result { try OpenFlowModel(database: sw.database, openFlow: sw.openFlow) }
        models[switchIndex] = m
        return m
    }

    func firewall(_ ns: NamespaceID) -> FirewallState {
        if let f = firewalls[ns] { return f }
        let snapshot = topology.snapshots[ns.snapshot]
        let state: FirewallState
        if let dumps = snapshot.firewallDumps(namespace: ns.label) {
            if dumps.iptablesSave == nil {
                state = .unavailable("iptables-save of \(ns.label) was not collected")
            } else if (dumps.iptablesSave ?? "").contains("*") == false && (dumps.ip6tablesSave ?? "").contains("*") == false {
                state = .noRules
            } else {
                do { state = .rules(try dumps.evaluator()) } catch {
                    state = .unavailable("the iptables dump of \(ns.label) does not parse: \(error)")
                }
            }
        } else {
            state = .unavailable("the snapshot holds no iptables state for \(ns.label)")
        }
        firewalls[ns] = state
        return state
    }
}

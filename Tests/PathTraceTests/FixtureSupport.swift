import Foundation
import HopscopeModel
import Lab
import PathTrace
import Testing
import Topology

/// The lab snapshots recorded by `scripts/record-snapshots` (lab prefix `hspath-rec`, two
/// instances), the plan that names everything in them, and edits that break a copy the way the
/// lab's faults break the live lab.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// The prefix the fixtures were recorded with; the plan gives every name, address and MAC.
    static let plan = try! LabPlan(prefix: "hspath-rec", instances: 2)

    static func load(_ name: String) throws -> Snapshot {
        try Snapshot.decode(Data(contentsOf: directory.appendingPathComponent("\(name).json")))
    }

    static func walk(_ snapshots: [Snapshot], _ request: PathRequest) throws -> PathResult {
        try PathTracer(snapshots: snapshots).trace(request)
    }

    static func walk(_ snapshot: Snapshot, _ instance: String, to: String, proto: PathProtocol = .icmp, size: Int? = nil) throws -> PathResult {
        try walk([snapshot], PathRequest(instance: instance, direction: .to(to), proto: proto, size: size))
    }

    static func walk(_ snapshot: Snapshot, _ instance: String, from: String, proto: PathProtocol = .icmp) throws -> PathResult {
        try walk([snapshot], PathRequest(instance: instance, direction: .from(from), proto: proto))
    }

    /// The hop where the walk stopped.
    static func stopHop(_ r: PathResult) throws -> PathHop {
        let index = try #require(r.verdict.hop, "the verdict names no hop: \(r.verdict)")
        return r.hops[index - 1]
    }
}

/// Edits of a snapshot value that reproduce the lab's faults offline.
extension Snapshot {
    mutating func editNamespace(_ label: String, _ body: (inout NamespaceInventory) -> Void) {
        let i = network.namespaces.firstIndex { $0.namespace.label == label }!
        body(&network.namespaces[i])
    }

    mutating func editLink(_ namespace: String, _ name: String, _ body: (inout Link) -> Void) {
        editNamespace(namespace) { ns in
            let i = ns.links.firstIndex { $0.name == name }!
            body(&ns.links[i])
        }
    }

    /// Removes every line of a namespace's iptables-save that contains all of `fragments`; returns how many.
    @discardableResult
    mutating func removeIptablesLines(_ namespace: String, containing fragments: [String]) -> Int {
        let i = firewalls.firstIndex { $0.namespace == namespace }!
        let lines = firewalls[i].iptablesSave!.split(separator: "\n", omittingEmptySubsequences: false)
        let kept = lines.filter { line in !fragments.allSatisfy { line.contains($0) } }
        firewalls[i].iptablesSave = kept.joined(separator: "\n")
        return lines.count - kept.count
    }

    mutating func editSwitch(_ node: String, _ body: (inout OVSInstanceSnapshot) -> Void) {
        let i = openVSwitch.firstIndex { $0.instance.node == node }!
        body(&openVSwitch[i])
    }

    /// Removes flow lines of a bridge that contain all of `fragments`; returns how many.
    @discardableResult
    mutating func removeFlows(_ node: String, bridge: String, containing fragments: [String]) -> Int {
        var removed = 0
        editSwitch(node) { s in
            let b = s.openFlow.firstIndex { $0.bridge == bridge }!
            let lines = s.openFlow[b].flowDump.split(separator: "\n", omittingEmptySubsequences: false)
            let kept = lines.filter { line in !fragments.allSatisfy { line.contains($0) } }
            removed = lines.count - kept.count
            s.openFlow[b].flowDump = kept.joined(separator: "\n")
        }
        return removed
    }
}

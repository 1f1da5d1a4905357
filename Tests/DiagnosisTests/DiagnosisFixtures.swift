import Diagnosis
import Foundation
import HopscopeModel
import Lab
import PathTrace
import Testing

/// The lab snapshots recorded by `scripts/record-snapshots` (prefix `hspath-rec`, two
/// instances): the path tests' fixtures and the demo snapshots, shared read-only, and edits of
/// the healthy one that break a copy the way a lab fault breaks the live lab.
enum DiagnosisFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let plan = try! LabPlan(prefix: "hspath-rec", instances: 2)
    static var vm1: LabInstance { plan.instances[0] }
    static var vm2: LabInstance { plan.instances[1] }
    static var compute: String { plan.computeNode.namespace }
    static var router: String { plan.router.namespace }
    static var client: String { "\(plan.external.internetClient)" }

    /// A recorded snapshot: `captures/snapshots/NAME.json`.
    static func load(_ name: String) throws -> Snapshot {
        try Snapshot.decode(Data(contentsOf: root.appendingPathComponent("captures/snapshots/\(name).json")))
    }

    static func healthy() throws -> Snapshot { try load("healthy") }

    static func diagnose(_ s: Snapshot, _ vm: LabInstance = vm1, to: String? = nil, from: String? = nil,
                         proto: PathProtocol = .icmp, size: Int? = nil) throws -> DiagnosisRun {
        let target: DiagnosisRequest.Target = to.map { .to($0) } ?? from.map { .from($0) } ?? .basicConnectivity
        return try Diagnoser(snapshots: [s]).diagnose(DiagnosisRequest(instance: vm.namespace, target: target, proto: proto, size: size))
    }

    /// The first finding, required to exist.
    static func first(_ run: DiagnosisRun, sourceLocation: SourceLocation = #_sourceLocation) throws -> Finding {
        try #require(run.findings.first, "no finding; verdict \(run.verdict.line)", sourceLocation: sourceLocation)
    }

    static func describe(_ run: DiagnosisRun) -> String {
        run.findings.map { "\($0.code) \($0.relevance) \($0.location)" }.joined(separator: "; ")
    }
}

/// Edits of a snapshot value (the same kinds as the path tests' fixture edits).
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

    mutating func editPort(_ node: String, _ name: String, _ body: (inout OVSPortRow) -> Void) {
        editSwitch(node) { o in
            let i = o.database!.ports.firstIndex { $0.name == name }!
            body(&o.database!.ports[i])
        }
    }

    mutating func editInterface(_ node: String, _ name: String, _ body: (inout OVSInterfaceRow) -> Void) {
        editSwitch(node) { o in
            let i = o.database!.interfaces.firstIndex { $0.name == name }!
            body(&o.database!.interfaces[i])
        }
    }
}

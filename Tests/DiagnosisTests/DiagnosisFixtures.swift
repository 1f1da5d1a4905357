import Diagnosis
import Foundation
import HopscopeModel
import Lab
import SnapshotTestSupport
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

import Foundation
import HopscopeModel
import Lab
import SnapshotTestSupport
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

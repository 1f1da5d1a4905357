import Collector
import Diagnosis
import Foundation
import HopscopeModel
import Lab
import Testing

/// `diagnose` on the live lab, through the library calls the CLI makes (a snapshot of the lab's
/// namespaces by `SnapshotCollector`, then `Diagnoser.diagnose`): the healthy lab gives no
/// finding, and every fault of `LabFaults.all` gives, as first finding, the code and place its
/// row in `LabFaultDiagnoses` names. One shared lab; each fault is applied and repaired in turn.
@Suite(.serialized) struct LabDiagnosisTests {
    /// Traffic that leaves neighbour entries behind (a FAILED one when the gateway is gone), as
    /// an operator's failed attempts would.
    static func touchPaths(_ lab: Lab, _ plan: LabPlan) async {
        _ = try? await lab.run(["ping", "-n", "-c", "1", "-W", "1", "\(plan.external.internetClient)"], in: plan.probeInstance.namespace, check: false)
        _ = try? await lab.run(["ping", "-n", "-c", "1", "-W", "1", "\(plan.probeInstance.address)"], in: plan.floatingIPInstance.namespace, check: false)
    }

    /// A snapshot of the lab's namespaces, as `hopscope diagnose --netns-prefix` collects it.
    static func snapshot(_ plan: LabPlan) async throws -> Snapshot {
        var options = CollectorOptions()
        options.namespaces = .some(plan.namespaces.sorted())
        options.libvirt = false
        return try await SnapshotCollector.collect(options)
    }

    static func diagnose(_ plan: LabPlan, _ row: LabFaultDiagnosis) async throws -> DiagnosisRun {
        let options = row.options(plan)
        let target: DiagnosisRequest.Target = switch options.first {
        case "--to": .to(options[1])
        case "--from": .from(options[1])
        default: .basicConnectivity
        }
        return try Diagnoser(snapshots: [try await snapshot(plan)]).diagnose(DiagnosisRequest(instance: row.instance(plan), target: target))
    }

    @Test func healthyLabGivesNoFinding() async throws {
        let (lab, plan) = try await LabFixture.shared.healthyLab()
        await LabDiagnosisTests.touchPaths(lab, plan)
        for vm in plan.instances {
            let run = try Diagnoser(snapshots: [try await LabDiagnosisTests.snapshot(plan)]).diagnose(DiagnosisRequest(instance: vm.namespace))
            #expect(run.findings.isEmpty, "\(vm.name): \(run.findings.map { "\($0.code) \($0.location): \($0.title)" })")
            #expect(run.verdict.status == .healthy && run.verdict.exitCode == 0, "\(run.verdict.line)")
        }
    }

    @Test func everyFaultHasADiagnosisRow() {
        #expect(Set(LabFaults.all.map(\.name)) == Set(LabFaultDiagnoses.all.map(\.fault)))
        let codes = Set(DiagnosisCode.allCases.map(\.rawValue))
        for row in LabFaultDiagnoses.all { #expect(codes.contains(row.code), "\(row.fault): \(row.code) is no diagnosis code") }
    }

    @Test(arguments: LabFaultDiagnoses.all.map(\.fault))
    func faultIsTheFirstFinding(fault: String) async throws {
        let row = try #require(LabFaultDiagnoses.named(fault))
        let run = try await LabFixture.shared.withFault(fault) { lab, plan in
            await LabDiagnosisTests.touchPaths(lab, plan)
            return (try await LabDiagnosisTests.diagnose(plan, row), row.place(plan))
        }
        let (result, place) = run
        let first = try #require(result.findings.first, "\(fault): no finding; verdict \(result.verdict.line)")
        #expect(first.code.rawValue == row.code, "\(fault): first finding \(first.code) at \(first.location): \(first.title)")
        #expect(first.location.namespace == place.namespace, "\(fault): at \(first.location), expected in \(place.namespace)")
        if let device = place.device { #expect(first.location.device == device, "\(fault): at \(first.location), expected \(device)") }
        #expect(result.verdict.status == .problem && result.verdict.exitCode == 1, "\(fault): \(result.verdict.line)")
        #expect(!first.evidence.isEmpty && !first.advice.summary.isEmpty, "\(fault): a finding carries evidence and advice")
    }
}

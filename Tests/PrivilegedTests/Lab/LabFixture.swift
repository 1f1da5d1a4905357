import Foundation
import Lab
import Namespaces
import Testing

/// The lab shared by every privileged test of this process.
///
/// `LabFixture.shared.healthyLab()` brings a lab up on first use (prefix `$HOPSCOPE_LAB_PREFIX`,
/// default `hst`, two instances) and hands out the lab and its plan; later calls repair any
/// fault a previous test left applied (or rebuild the lab if repairing fails), so every caller
/// gets a healthy lab. `withFault(_:_:)` applies a fault around a body and always repairs it.
///
/// Nothing is left behind: the lab is removed at process exit (an `atexit` handler), and
/// scripts/test also runs `hopscope lab down --prefix hst` when the test run ends, even if the
/// test process crashed. Privileged tests run one at a time (`--no-parallel`), so tests never
/// see each other's faults. A test that changes the lab other than through `Lab.apply` (deletes
/// a flow by hand, say) calls `rebuild()` afterwards, since `repair` only undoes named faults.
actor LabFixture {
    static let shared = LabFixture()

    /// The prefix of the shared lab.
    static var prefix: String { ProcessInfo.processInfo.environment[Lab.prefixVariable] ?? "hst" }

    private var lab: Lab?
    private var plan: LabPlan?
    /// `lab up` reports of this process (the first one, and any rebuild).
    private(set) var upReports: [Lab.UpReport] = []

    /// A healthy lab and its plan. Throws (never skips) when not root or when the lab cannot be built.
    func healthyLab() async throws -> (lab: Lab, plan: LabPlan) {
        try requireRoot()
        if let lab, let plan {
            let status = try lab.status()
            if status.phase == "up" {
                do {
                    if !status.appliedFaults.isEmpty { try await lab.repair() }
                    if try lab.status().complete { return (lab, plan) }
                } catch {
                    // Fall through to a rebuild: a failed repair must not poison later tests.
                }
            }
            return try await rebuild()
        }
        LabReaper.adoptOrphanedDaemons()
        atexit { LabFixture.tearDownAtExit() }
        return try await rebuild()
    }

    /// Removes and rebuilds the shared lab from scratch.
    @discardableResult
    func rebuild() async throws -> (lab: Lab, plan: LabPlan) {
        let lab = try self.lab ?? Lab(prefix: LabFixture.prefix)
        let report = try await lab.up(instances: LabPlan.defaultInstanceCount)
        upReports.append(report)
        self.lab = lab
        plan = report.plan
        return (lab, report.plan)
    }

    /// Applies `fault` (aimed at `instance`, when given) to the healthy shared lab, runs `body`,
    /// and repairs the fault afterwards, also when `body` throws.
    func withFault<T: Sendable>(_ fault: String, instance: String? = nil,
                                _ body: @Sendable (Lab, LabPlan) async throws -> T) async throws -> T {
        let (lab, plan) = try await healthyLab()
        try await lab.apply(fault, instance: instance)
        do {
            let result = try await body(lab, plan)
            try await lab.repair([fault])
            return result
        } catch {
            _ = try? await lab.repair([fault])
            throw error
        }
    }

    /// Removes the shared lab (idempotent).
    func tearDown() async throws {
        try await Lab(prefix: LabFixture.prefix).down()
        lab = nil
        plan = nil
    }

    /// The process-exit handler: removes the shared lab synchronously (no task can run at exit).
    static func tearDownAtExit() {
        _ = try? Lab(prefix: LabFixture.prefix).downNow()
    }
}

import Foundation
import Lab
import Namespaces
import Testing

/// `lab up` and `lab down` on a lab of its own (prefix `<shared>lc`), next to the shared one:
/// down leaves namespaces, processes and files as they were; a second up is healthy again; up
/// cleans a lab whose builder died.
@Suite(.serialized) struct LabLifecycleTests {
    static var prefix: String { LabFixture.prefix + "lc" }

    @Test func downLeavesNothingAndASecondUpIsHealthyAgain() async throws {
        try requireRoot()
        LabReaper.adoptOrphanedDaemons()
        let lab = try Lab(prefix: Self.prefix)
        try await lab.down()
        let namespacesBefore = labNamespaces()
        let processesBefore = ProcessSnapshot()
        #expect(namespacesBefore.isEmpty)

        do {
            let first = try await lab.up()
            let recorded = try #require(try lab.state()).processes
            #expect(recorded.count == 7, "two OVS daemons per node, two dnsmasq and the tap guest")
            #expect(labNamespaces() == Set(first.plan.namespaces))

            let down = try await lab.down()
            #expect(Set(down.namespaces) == Set(first.plan.namespaces))
            try expectNothingLeft(of: first.plan, recorded: recorded, namespacesBefore: namespacesBefore, processesBefore: processesBefore)

            // The same lab again, healthy.
            let second = try await lab.up()
            #expect(second.plan == first.plan)
            let results = try await lab.check()
            for r in results { #expect(r.passed, "second up: \(r.id) fails: \(r.detail)") }
            let recordedAgain = try #require(try lab.state()).processes
            try await lab.down()
            try expectNothingLeft(of: second.plan, recorded: recordedAgain, namespacesBefore: namespacesBefore, processesBefore: processesBefore)

            // down is idempotent.
            let again = try await lab.down()
            #expect(again.namespaces.isEmpty && again.processes.isEmpty)
        } catch {
            _ = try? await lab.down()
            throw error
        }
    }

    @Test func upRemovesALabWhoseBuilderDied() async throws {
        try requireRoot()
        LabReaper.adoptOrphanedDaemons()
        let lab = try Lab(prefix: Self.prefix)
        do {
            try await lab.up(instances: 1)
            let old = try #require(try lab.state()).processes
            // The builder "died" and its record is lost: only namespaces, daemons and pid files remain.
            try FileManager.default.removeItem(atPath: "\(lab.stateDirectory)/state.json")

            let report = try await lab.up(instances: 2)
            for p in old { #expect(!ProcFS.exists(p.pid), "old \(p.role) (PID \(p.pid)) was stopped") }
            #expect(try lab.status().complete)
            #expect(labNamespaces() == Set(report.plan.namespaces))
            let dhcp = try await lab.check(only: ["dhcp:vm1", "dhcp:vm2"])
            #expect(dhcp.count == 2 && dhcp.allSatisfy(\.passed), "\(dhcp.map(\.detail))")
            try await lab.down()
            #expect(labNamespaces().isEmpty)
        } catch {
            _ = try? await lab.down()
            throw error
        }
    }

    @Test func breakAndStatusNeedALabThatIsUp() async throws {
        try requireRoot()
        let lab = try Lab(prefix: Self.prefix)
        try await lab.down()
        await #expect(throws: LabError.notUp(prefix: Self.prefix)) { try await lab.apply("tap-down") }
        let status = try lab.status()
        #expect(status.phase == "absent" && !status.complete)
        #expect(status.namespaces.allSatisfy { !$0.present })
    }

    // MARK: helpers

    /// Names in `ip netns list` that belong to this test's prefix.
    func labNamespaces() -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        return Set(names.filter { $0.hasPrefix(Self.prefix + "-") })
    }

    func expectNothingLeft(of plan: LabPlan, recorded: [LabProcess], namespacesBefore: Set<String>,
                           processesBefore: ProcessSnapshot) throws {
        #expect(labNamespaces() == namespacesBefore, "ip netns list is as it was")
        for p in recorded {
            // Not even a zombie: this process adopted the daemons and reaped them.
            #expect(!ProcFS.exists(p.pid), "\(p.role) PID \(p.pid) is gone")
        }
        let now = ProcessSnapshot()
        let new = now.commandLines.filter { processesBefore.commandLines[$0.key] == nil }
        let fromLab = new.filter { $0.value.contains(plan.stateDirectory) }
        #expect(fromLab.isEmpty, "no process of the lab is left: \(fromLab)")
        let ourZombies = now.zombieChildren(of: getpid())
        #expect(ourZombies.isEmpty, "no zombie left behind: \(ourZombies)")
        #expect(!FileManager.default.fileExists(atPath: plan.stateDirectory))
        for vm in plan.instances { #expect(!FileManager.default.fileExists(atPath: "/etc/netns/\(vm.namespace)")) }
        #expect(!FileManager.default.fileExists(atPath: "\(LabPlan.defaultStateRoot)/.lab-\(plan.prefix).lock"))
    }
}

/// The process table at one moment: command line by PID, and who is a zombie of whom.
struct ProcessSnapshot {
    var commandLines: [Int32: String] = [:]
    var zombies: [Int32: Int32] = [:]

    init() {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry) else { continue }
            if let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") {
                commandLines[pid] = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            }
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 1, fields[0] == "Z", let parent = Int32(fields[1]) { zombies[pid] = parent }
            }
        }
    }

    func zombieChildren(of parent: Int32) -> [Int32] { zombies.filter { $0.value == parent }.map(\.key) }
}

enum ProcFS {
    /// True when /proc has an entry for `pid` (running or zombie).
    static func exists(_ pid: Int32) -> Bool { FileManager.default.fileExists(atPath: "/proc/\(pid)") }
}

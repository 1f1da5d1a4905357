import Foundation
import Namespaces
import Testing

@Suite struct HostCommandTests {
    @Test func collectsOutputAndExitCode() async throws {
        let r = try await HostCommand.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check: false)
        #expect(r.exitCode == 3)
        #expect(r.standardOutput == "out\n")
        #expect(r.standardError == "err\n")
    }

    @Test func nonZeroExitThrowsWithStderr() async throws {
        do {
            try await HostCommand.run(["sh", "-c", "echo 'no such bridge' >&2; exit 1"])
            Issue.record("expected CommandError")
        } catch let e as CommandError {
            #expect(e.reason == .exited(1))
            #expect(e.description.contains("no such bridge"))
        }
    }

    @Test func passesInputAndEnvironment() async throws {
        let r = try await HostCommand.run(["sh", "-c", "cat; printf %s \"$HS_TEST\""], input: "a\nb\n", environment: ["HS_TEST": "x"])
        #expect(r.standardOutput == "a\nb\nx")
    }

    @Test func deadlineStopsTheProcess() async throws {
        // A long sleep with a unique argument: unit tests share a 2-thread pool with CPU-bound
        // tests, so the deadline can fire many seconds late; it must still fire well before the
        // sleep would end, and the sleep must then be gone.
        let seconds = "600.\(UInt16.random(in: 1...9999))"
        let start = ContinuousClock.now
        do {
            try await HostCommand.run(["sleep", seconds], timeout: .milliseconds(300))
            Issue.record("expected a timeout")
        } catch let e as CommandError {
            #expect(e.reason == .timedOut(.milliseconds(300)))
        }
        // Not a speed assertion: only that the sleep was stopped rather than waited for.
        #expect(ContinuousClock.now - start < .seconds(300))
        let running = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init).filter { pid in
            let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? ""
            return cmdline == "sleep\0\(seconds)\0"
        } ?? []
        #expect(running.isEmpty, "sleep \(seconds) still runs as \(running)")
    }

    @Test func missingProgramIsCouldNotStart() async throws {
        do {
            try await HostCommand.run(["hopscope-no-such-program"])
            Issue.record("expected an error")
        } catch let e as CommandError {
            guard case .couldNotStart = e.reason else { Issue.record("got \(e.reason)"); return }
        }
    }

    @Test func namespaceWrapping() {
        #expect(HostCommand.wrapped(["iptables-save"], in: .named("qrouter-1")) == ["ip", "netns", "exec", "qrouter-1", "iptables-save"])
        #expect(HostCommand.wrapped(["ip", "a"], in: .process(42)) == ["nsenter", "--net=/proc/42/ns/net", "--", "ip", "a"])
        #expect(HostCommand.wrapped(["true"], in: .current) == ["true"])
    }
}

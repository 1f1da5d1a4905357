import Foundation
import Namespaces
import Testing

@Suite struct NamespaceThreadTests {
    @Test func bodyRunsInsideTheNamespaceAndCallerStaysOutside() async throws {
        try requireRoot()
        let name = scratchName("ns")
        try await HostCommand.run(["ip", "netns", "add", name])

        try await HostCommand.run(["ip", "link", "add", "hsx0", "type", "veth", "peer", "name", "hsx1"], in: .named(name))

        @Sendable func devices() throws -> String { try String(contentsOfFile: "/proc/thread-self/net/dev", encoding: .utf8) }
        let inside = try inNetworkNamespace(.named(name)) { try devices() }
        #expect(inside.contains("hsx0:"))
        #expect(inside.contains("hsx1:"))
        #expect(!(try devices()).contains("hsx0:"), "the calling thread must not have moved")

        let asyncInside = try await withNetworkNamespace(.named(name)) { try devices() }
        #expect(asyncInside.contains("hsx1:"))
        #expect(!(try devices()).contains("hsx1:"))
        try await HostCommand.run(["ip", "netns", "del", name])
    }

    @Test func missingNamespaceThrowsNamingIt() throws {
        try requireRoot()
        do {
            try inNetworkNamespace(.named("hst-does-not-exist")) { () }
            Issue.record("expected an error")
        } catch let e as SystemCallError {
            #expect(e.errno == ENOENT)
            #expect(e.description.contains("hst-does-not-exist"))
        }
    }
}

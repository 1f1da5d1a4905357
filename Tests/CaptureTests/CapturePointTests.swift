import Capture
import Namespaces
import Testing

@Suite struct CapturePointTests {
    @Test func parsesInterfaceAndNamespace() throws {
        let p = try CapturePoint(parsing: "qr-1234@qrouter-abc")
        #expect(p.interface == "qr-1234")
        #expect(p.namespace == .named("qrouter-abc"))
        #expect(p.label == "qr-1234@qrouter-abc")
        #expect(p.about == "interface qr-1234 in network namespace qrouter-abc")
        let bare = try CapturePoint(parsing: "eth0")
        #expect(bare.namespace == .current)
    }

    @Test(arguments: ["", "@ns", "eth0@", "a@b@c"])
    func rejectsAmbiguousForms(_ text: String) {
        #expect(throws: CapturePointSyntaxError.self) { try CapturePoint(parsing: text) }
    }
}

import Foundation
import Testing

/// Every privileged test starts with this: it fails (never skips) when not root, saying why.
func requireRoot() throws {
    try #require(geteuid() == 0, "this test needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create namespaces; run the tests as root, as CI does")
}

/// A unique name for a scratch namespace or device, so tests never collide with each other or a lab.
func scratchName(_ stem: String) -> String {
    "hst-\(stem)-\(getpid() % 100000)-\(UInt16.random(in: 0...UInt16.max))"
}

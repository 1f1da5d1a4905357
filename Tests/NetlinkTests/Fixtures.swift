import Foundation
import Testing

/// Test data: the shared netlink captures (`../shared/data/netlink`, relative to the package
/// root) and the bytes recorded here from the kernel (`Tests/NetlinkTests/Fixtures`).
enum Fixture {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shared = packageRoot.appendingPathComponent("../shared/data/netlink").standardizedFileURL
    static let recorded = packageRoot.appendingPathComponent("Tests/NetlinkTests/Fixtures")

    /// A payload from netlink-packet-route (family header first, no nlmsghdr).
    static func route(_ name: String) throws -> [UInt8] {
        try bytes(shared.appendingPathComponent("netlink-packet-route/\(name)"))
    }

    static func bytes(_ url: URL) throws -> [UInt8] {
        let data = try #require(FileManager.default.contents(atPath: url.path), "missing fixture \(url.path)")
        return [UInt8](data)
    }
}

/// Runs `body` over the bytes as the unsafe buffer the decoders take.
func withPayload<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try bytes.withUnsafeBytes { try body($0) }
}

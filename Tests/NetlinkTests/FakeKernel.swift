import Foundation
import Netlink

/// A kernel at message level for tests: each request goes to `respond`, which returns the reply
/// datagrams (each a list of messages); `receive` hands them out one at a time. Lets the tests
/// drive sequence checks, multipart replies, NLM_F_DUMP_INTR and errors without a socket or root.
final class FakeKernel: NetlinkTransport {
    struct Request {
        var type: UInt16
        var flags: MessageFlags
        var sequence: UInt32
        var payload: [UInt8]
    }

    let portID: UInt32 = 4242
    let namespaceLabel = "fake"
    private var sequence: UInt32 = 0
    private var queue: [[UInt8]] = []
    private(set) var requests: [Request] = []
    var respond: (Request, Int) -> [[UInt8]]

    init(respond: @escaping (Request, Int) -> [[UInt8]]) { self.respond = respond }

    func nextSequenceNumber() -> UInt32 {
        sequence += 1
        return sequence
    }

    func send(_ message: [UInt8]) throws {
        let r = message.withUnsafeBytes { b -> Request in
            Request(type: b.loadUnaligned(fromByteOffset: 4, as: UInt16.self),
                    flags: MessageFlags(rawValue: b.loadUnaligned(fromByteOffset: 6, as: UInt16.self)),
                    sequence: b.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
                    payload: Array(b[16...]))
        }
        requests.append(r)
        queue += respond(r, requests.count)
    }

    func receive<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard !queue.isEmpty else {
            throw NetlinkError(operation: "receive", namespace: namespaceLabel, reason: .system(.init(operation: "recv (fake kernel has nothing queued)", errno: EAGAIN)))
        }
        return try queue.removeFirst().withUnsafeBytes { try body($0) }
    }

    // MARK: building replies

    /// One message with the given type, flags, sequence and payload, addressed to `port`.
    static func message(_ type: UInt16, flags: MessageFlags = [.multipart], sequence: UInt32, port: UInt32 = 4242, payload: [UInt8]) -> [UInt8] {
        var b = NetlinkMessageBuilder(type: type, flags: flags, sequence: sequence, portID: port)
        b.appendHeader(payload)
        return b.bytes
    }

    /// An RTM_NEWLINK payload for a device `name` with index `index` (and optional kind).
    static func linkPayload(index: Int32, name: String, mtu: UInt32 = 1500, kind: String? = nil) -> [UInt8] {
        var b = NetlinkMessageBuilder(type: 0, flags: [])
        var header = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: index) { for i in 0..<4 { header[4 + i] = $0[i] } }
        b.appendHeader(header)
        b.attribute(LinkAttribute.ifname.rawValue, string: name)
        b.attribute(LinkAttribute.mtu.rawValue, uint32: mtu)
        if let kind {
            b.beginNest(LinkAttribute.linkInfo.rawValue)
            b.attribute(LinkInfoAttribute.kind.rawValue, string: kind)
            b.endNest()
        }
        return Array(b.bytes[16...])
    }

    static func done(sequence: UInt32, error: Int32 = 0, flags: MessageFlags = [.multipart]) -> [UInt8] {
        message(MessageType.done.rawValue, flags: flags, sequence: sequence, payload: withUnsafeBytes(of: error) { Array($0) })
    }

    /// An NLMSG_ERROR echoing `request` (capped) with an extended-ack message.
    static func error(_ errno: Int32, to request: Request, message text: String?) -> [UInt8] {
        var payload = withUnsafeBytes(of: -errno) { Array($0) }
        var echo = NetlinkMessageBuilder(type: request.type, flags: request.flags, sequence: request.sequence)
        echo.appendHeader([])
        payload += echo.bytes
        var flags: MessageFlags = [.capped]
        if let text {
            flags.insert(.ackTLVs)
            var tlv = NetlinkMessageBuilder(type: 0, flags: [])
            tlv.attribute(ExtendedAckAttribute.message.rawValue, string: text)
            payload += tlv.bytes[16...]
        }
        return message(MessageType.error.rawValue, flags: flags, sequence: request.sequence, payload: payload)
    }
}

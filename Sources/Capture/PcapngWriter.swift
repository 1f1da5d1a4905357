import Foundation

// pcapng (draft-ietf-opsawg-pcapng), the blocks Hopscope writes, all little-endian:
//
//  Section Header Block (type 0x0A0D0D0A)      Interface Description Block (type 1)
//  +--------------------------------+          +--------------------------------+
//  | type | total length            |          | type | total length            |
//  | byte-order magic 0x1A2B3C4D    |          | link type (16) | reserved (16) |
//  | major 1 | minor 0              |          | snaplen                        |
//  | section length (64, -1)        |          | options: if_name (2),          |
//  | options: shb_userappl (4)      |          |  if_description (3),           |
//  | total length                   |          |  if_tsresol (9) | total length |
//  +--------------------------------+          +--------------------------------+
//
//  Enhanced Packet Block (type 6)              Interface Statistics Block (type 5)
//  +--------------------------------+          +--------------------------------+
//  | type | total length            |          | type | total length            |
//  | interface id                   |          | interface id                   |
//  | timestamp high | timestamp low |          | timestamp high | timestamp low |
//  | captured length | orig length  |          | options: isb_starttime (2),    |
//  | packet data, padded to 32 bits |          |  isb_endtime (3), isb_ifrecv (4)|
//  | total length                   |          |  isb_osdrop (7), isb_usrdeliv (8)|
//  +--------------------------------+          | total length                   |
//                                              +--------------------------------+
// Options are code (16), length (16), value padded to 32 bits, closed by opt_endofopt (0, 0).

/// One interface of a pcapng section: a hop, named so that Wireshark shows interface and namespace.
public struct PcapngInterface: Sendable, Equatable {
    /// `if_name`, e.g. `tap1@compute1`.
    public var name: String
    /// `if_description`, e.g. `interface tap1 in network namespace compute1`.
    public var description: String
    /// The link-layer header type (1 = Ethernet).
    public var linkType: UInt16
    public var snapshotLength: UInt32

    public init(name: String, description: String, linkType: UInt16 = 1, snapshotLength: UInt32 = 262_144) {
        self.name = name
        self.description = description
        self.linkType = linkType
        self.snapshotLength = snapshotLength
    }
}

/// Capture counters for one interface, written as an Interface Statistics Block.
public struct PcapngInterfaceStatistics: Sendable, Equatable {
    public var startNanoseconds: Int64
    public var endNanoseconds: Int64
    /// Packets the kernel passed to the capture (`isb_ifrecv`).
    public var received: UInt64
    /// Packets the kernel dropped because the capture fell behind (`isb_osdrop`).
    public var droppedByOS: UInt64
    /// Packets written to the file (`isb_usrdeliv`).
    public var delivered: UInt64

    public init(startNanoseconds: Int64, endNanoseconds: Int64, received: UInt64, droppedByOS: UInt64, delivered: UInt64) {
        self.startNanoseconds = startNanoseconds
        self.endNanoseconds = endNanoseconds
        self.received = received
        self.droppedByOS = droppedByOS
        self.delivered = delivered
    }
}

/// Writes a pcapng file with one section, nanosecond timestamps and any number of interfaces,
/// atomically (see `AtomicOutputFile`): the file appears only after `commit()`.
///
/// Usage: `addInterface` for every hop before the first packet, then `writePacket` in timestamp
/// order, optionally `writeStatistics`, then `commit()`. Not thread-safe.
public final class PcapngWriter {
    private let file: AtomicOutputFile
    private var block: [UInt8] = []
    private(set) public var interfaces: [PcapngInterface] = []
    private var packetsStarted = false

    /// Creates the temporary file and writes the section header naming the writing application.
    public init(path: String, application: String = "hopscope") throws {
        file = try AtomicOutputFile(path: path, bufferSize: 4 << 20)
        block.reserveCapacity(1 << 16)
        begin(type: 0x0A0D_0D0A)
        append32(0x1A2B_3C4D)
        append16(1)
        append16(0)
        append64(UInt64.max)
        appendOption(4, Array(application.utf8))
        endOptions()
        try end()
    }

    /// Declares an interface; returns its id for `writePacket`. Must precede the first packet.
    @discardableResult
    public func addInterface(_ interface: PcapngInterface) throws -> UInt32 {
        precondition(!packetsStarted, "pcapng interfaces must be declared before packets in this writer")
        begin(type: 1)
        append16(interface.linkType)
        append16(0)
        append32(interface.snapshotLength)
        appendOption(2, Array(interface.name.utf8))
        appendOption(3, Array(interface.description.utf8))
        appendOption(9, [9])  // if_tsresol: 10^-9 s, nanoseconds
        endOptions()
        try end()
        interfaces.append(interface)
        return UInt32(interfaces.count - 1)
    }

    /// Appends one Enhanced Packet Block.
    public func writePacket(interface: UInt32, timestampNanoseconds: Int64, originalLength: UInt32, data: UnsafeRawBufferPointer) throws {
        precondition(Int(interface) < interfaces.count, "unknown pcapng interface \(interface)")
        packetsStarted = true
        begin(type: 6)
        append32(interface)
        appendTimestamp(timestampNanoseconds)
        append32(UInt32(data.count))
        append32(originalLength)
        block.append(contentsOf: data)
        pad()
        try end()
    }

    /// Appends an Interface Statistics Block for `interface`.
    public func writeStatistics(interface: UInt32, _ stats: PcapngInterfaceStatistics) throws {
        begin(type: 5)
        append32(interface)
        appendTimestamp(stats.endNanoseconds)
        appendOption(2, timestampBytes(stats.startNanoseconds))
        appendOption(3, timestampBytes(stats.endNanoseconds))
        appendOption(4, bytes64(stats.received))
        appendOption(7, bytes64(stats.droppedByOS))
        appendOption(8, bytes64(stats.delivered))
        endOptions()
        try end()
    }

    /// Syncs and renames the file into place.
    public func commit() throws { try file.commit() }

    /// Removes the partial file.
    public func abandon() { file.abandon() }

    // MARK: block assembly

    private func begin(type: UInt32) {
        block.removeAll(keepingCapacity: true)
        append32(type)
        append32(0)  // total length, patched in end()
    }

    private func end() throws {
        let total = UInt32(block.count + 4)
        withUnsafeBytes(of: total.littleEndian) { block.replaceSubrange(4..<8, with: $0) }
        append32(total)
        try block.withUnsafeBytes { try file.write($0) }
    }

    private func pad() {
        while block.count % 4 != 0 { block.append(0) }
    }

    private func appendOption(_ code: UInt16, _ value: [UInt8]) {
        append16(code)
        append16(UInt16(value.count))
        block.append(contentsOf: value)
        pad()
    }

    private func endOptions() {
        append16(0)
        append16(0)
    }

    private func append16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { block.append(contentsOf: $0) } }
    private func append32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { block.append(contentsOf: $0) } }
    private func append64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { block.append(contentsOf: $0) } }

    /// pcapng timestamps are a 64-bit count of `if_tsresol` units written high word first.
    private func appendTimestamp(_ ns: Int64) { block.append(contentsOf: timestampBytes(ns)) }

    private func timestampBytes(_ ns: Int64) -> [UInt8] {
        let v = UInt64(max(ns, 0))
        return bytes32(UInt32(v >> 32)) + bytes32(UInt32(v & 0xFFFF_FFFF))
    }

    private func bytes32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    private func bytes64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

/// The names of the set bits of a kernel flags word (address, route, next hop and FDB flags), in
/// the order `ip -j` prints them.
///
/// Every value whose bits all lie in the low byte (nearly every value the kernel sends) is worked
/// out once, when the table is made, and handed out as a shared array: decoding a dump of
/// thousands of entries then allocates no name arrays. Immutable, so safe to share across threads.
struct FlagNameTable: Sendable {
    private let bits: [(bit: UInt32, name: String)]
    private let lowByte: [[String]]

    init(_ bits: [(bit: UInt32, name: String)]) {
        self.bits = bits
        lowByte = (0..<256).map { value in bits.filter { UInt32(value) & $0.bit != 0 }.map(\.name) }
    }

    /// The names of the bits set in `flags`.
    func names(of flags: UInt32) -> [String] {
        flags < 256 ? lowByte[Int(flags)] : bits.filter { flags & $0.bit != 0 }.map(\.name)
    }
}

// DNS query encoder (see Protocols/DNS.swift for the layout): a header and one question.

extension DNSMessage {
    /// A standard query (opcode 0) for `name` and `type` (class IN), with RD set unless
    /// `recursionDesired` is false. `name` may end with a dot; "." is the root.
    /// Throws `badName` for an empty label, a label over 63 bytes or a name over 255 bytes.
    public static func encodeQuery(id: UInt16, name: String, type: UInt16 = DNSRecordType.a,
                                   recursionDesired: Bool = true) throws(PacketEncodeError) -> [UInt8] {
        var out: [UInt8] = []
        out.append16(id)
        out.append16(recursionDesired ? 0x0100 : 0)
        out.append16(1)     // QDCOUNT
        out.append16(0)     // ANCOUNT
        out.append16(0)     // NSCOUNT
        out.append16(0)     // ARCOUNT
        out += try encodeName(name)
        out.append16(type)
        out.append16(1)     // QCLASS IN
        return out
    }

    /// `name` as uncompressed labels ending with the zero byte (RFC 1035 section 3.1).
    public static func encodeName(_ name: String) throws(PacketEncodeError) -> [UInt8] {
        var text = Substring(name)
        if text.hasSuffix(".") { text = text.dropLast() }
        guard !text.isEmpty || name == "." else { throw .badName(name, reason: "it is empty (write \".\" for the root)") }
        var out: [UInt8] = []
        if !text.isEmpty {
            for label in text.split(separator: ".", omittingEmptySubsequences: false) {
                let bytes = Array(label.utf8)
                guard !bytes.isEmpty else { throw .badName(name, reason: "it has an empty label (two dots in a row)") }
                guard bytes.count <= 63 else { throw .badName(name, reason: "the label '\(label)' is \(bytes.count) bytes long, over 63") }
                out.append(UInt8(bytes.count))
                out += bytes
            }
        }
        out.append(0)
        guard out.count <= 255 else { throw .badName(name, reason: "it takes \(out.count) bytes on the wire, over 255") }
        return out
    }
}

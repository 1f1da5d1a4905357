// ICMP encoder (see Protocols/ICMP.swift for the layout), with its checksum over header and data.

extension ICMPHeader {
    /// An ICMP message: type, code, checksum, the 4 bytes after it, then `data`.
    public static func encode(type: UInt8, code: UInt8, restOfHeader: UInt32, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [type, code, 0, 0]
        out.reserveCapacity(length + data.count)
        out.append32(restOfHeader)
        out += data
        out.store16(InternetChecksum.checksum(out), at: 2)
        return out
    }

    /// Echo request (type 8), as ping sends it.
    public static func echoRequest(identifier: UInt16, sequence: UInt16, data: [UInt8]) -> [UInt8] {
        encode(type: 8, code: 0, restOfHeader: UInt32(identifier) << 16 | UInt32(sequence), data: data)
    }

    /// Echo reply (type 0): the request's identifier, sequence number and data sent back.
    public static func echoReply(identifier: UInt16, sequence: UInt16, data: [UInt8]) -> [UInt8] {
        encode(type: 0, code: 0, restOfHeader: UInt32(identifier) << 16 | UInt32(sequence), data: data)
    }
}

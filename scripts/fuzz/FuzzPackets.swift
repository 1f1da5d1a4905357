// libFuzzer entry point for every decoder of the Packets module.
//
// The first input byte picks the link type; the rest is the frame. Each input is decoded, then
// everything that reads the frame again is exercised: summaries (both forms), the full detail
// (options, DNS names, quoted ICMP packets) and its JSON, and the flow identities. A crash,
// an out-of-bounds read (AddressSanitizer) or a hang is a bug; `scripts/fuzz/run.sh` turns
// the reproducer into a regression fixture.
import Foundation
import Packets

private let linkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .rawFile, .ipv4, .ipv6, .null, .loop]
private let encoder = JSONEncoder()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPackets(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let linkType = linkTypes[Int(data[0]) % linkTypes.count]
    // A private copy of exactly the frame bytes, so AddressSanitizer sees any read past its end.
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: size - 1, alignment: 1)
    defer { frame.deallocate() }
    if size > 1 { frame.copyMemory(from: UnsafeRawBufferPointer(start: data + 1, count: size - 1)) }
    let bytes = UnsafeRawBufferPointer(frame)
    // Captured whole, and cut by a snap length: the two ways shortness is judged.
    for wireLength in [bytes.count, bytes.count + 100] {
        var packet = Packet()
        packet.decode(bytes, linkType: linkType, wireLength: wireLength)
        _ = packet.summary(in: bytes)
        _ = packet.summary(in: bytes, options: SummaryOptions(linkHeaders: true))
        _ = packet.identities(in: bytes)
        let detail = packet.detail(in: bytes)
        _ = try? encoder.encode(detail)
    }
    return 0
}

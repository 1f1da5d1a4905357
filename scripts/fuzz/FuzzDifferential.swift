// libFuzzer entry point that decodes every input with two builds of the Packets module, the
// working tree's (`Packets`) and a git revision's (`PacketsReference`, see differential.sh), and
// aborts on the first observable difference: the layers (protocol and offset), the issue, both
// summaries, the flow identities and the JSON detail. It is how a change meant to keep behaviour
// (a faster decoder) proves it did, beyond the fixtures the tests hold.
//
// The input format is FuzzPackets.swift's: the first byte picks the link type, the rest is the frame.
import Foundation
import Packets
import PacketsReference

private let linkTypes: [Int32] = [1, 113, 276, 12, 101, 228, 229, 0, 108]
private let encoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    return e
}()

private func differ(_ what: String, _ ours: some Any, _ reference: some Any, _ bytes: UnsafeRawBufferPointer, _ link: Int32, _ wire: Int) -> Never {
    let hex = bytes.map { String(format: "%02x", $0) }.joined()
    FileHandle.standardError.write(Data("""
        differential: \(what) differs (link type \(link), wire length \(wire), frame \(hex))
          working tree: \(ours)
          reference:    \(reference)

        """.utf8))
    abort()
}

private func json(_ value: some Encodable) -> String {
    (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "<not encodable>"
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDifferential(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let link = linkTypes[Int(data[0]) % linkTypes.count]
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: size - 1, alignment: 1)
    defer { frame.deallocate() }
    if size > 1 { frame.copyMemory(from: UnsafeRawBufferPointer(start: data + 1, count: size - 1)) }
    let bytes = UnsafeRawBufferPointer(frame)
    for wireLength in [bytes.count, bytes.count + 100] {
        var ours = Packets.Packet()
        ours.decode(bytes, linkType: Packets.LinkType(rawValue: link), wireLength: wireLength)
        var reference = PacketsReference.Packet()
        reference.decode(bytes, linkType: PacketsReference.LinkType(rawValue: link), wireLength: wireLength)

        let ourLayers = ours.layers.map { "\($0.protocolID.rawValue)@\($0.offset)" }
        let referenceLayers = reference.layers.map { "\($0.protocolID.rawValue)@\($0.offset)" }
        if ourLayers != referenceLayers { differ("layers", ourLayers, referenceLayers, bytes, link, wireLength) }
        let ourIssue = ours.issue.map { "\($0)" } ?? "none", referenceIssue = reference.issue.map { "\($0)" } ?? "none"
        if ourIssue != referenceIssue { differ("issue", ourIssue, referenceIssue, bytes, link, wireLength) }
        for linkHeaders in [false, true] {
            let a = ours.summary(in: bytes, options: Packets.SummaryOptions(linkHeaders: linkHeaders))
            let b = reference.summary(in: bytes, options: PacketsReference.SummaryOptions(linkHeaders: linkHeaders))
            if a != b { differ("summary (link headers \(linkHeaders))", a, b, bytes, link, wireLength) }
        }
        let ourIdentities = json(ours.identities(in: bytes)), referenceIdentities = json(reference.identities(in: bytes))
        if ourIdentities != referenceIdentities { differ("identities", ourIdentities, referenceIdentities, bytes, link, wireLength) }
        let ourDetail = json(ours.detail(in: bytes)), referenceDetail = json(reference.detail(in: bytes))
        if ourDetail != referenceDetail { differ("detail", ourDetail, referenceDetail, bytes, link, wireLength) }
    }
    return 0
}

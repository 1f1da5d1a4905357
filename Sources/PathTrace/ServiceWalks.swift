import HopscopeModel
import Topology

extension PathTracer {
    /// Walks a packet from `source` to `destination` and back when neither end is the instance
    /// the walk is made for: a service's own traffic, such as a DNS server's query to its
    /// upstream server on behalf of the instance it resolves for.
    ///
    /// `source` is an address owned by one namespace of the snapshots (or outside them) or an
    /// instance; `destination` an address or an instance. The result names `instance` (IP, MAC,
    /// port id, ... as for `trace(_:)`). Throws `InstanceLookupError` or `PathRequestError` as
    /// `trace(_:)` does.
    public func trace(from source: String, to destination: String, proto: PathProtocol = .icmp, size: Int? = nil,
                      sourcePort: UInt16 = 40000, onBehalfOf instance: String) throws -> PathResult {
        let servedInstance = try topology.findInstance(instance)
        requestedSize = size ?? proto.defaultSize
        var notes: [String] = []
        let origin = try self.origin(source)
        let (dst, targetNS, targetGuest) = try self.destination(destination, notes: &notes)
        let packet = makePacket(src: origin.address, dst: dst, proto: proto, sourcePort: sourcePort)
        var w = Walk(direction: .forward, packet: packet, target: Walk.Target(address: dst, namespace: targetNS, guest: targetGuest))
        let end = start(from: origin, &w, notes: &notes)
        return finish(instance: servedInstance, source: source == origin.address.description ? source : "\(source) (\(origin.address))",
                      destination: destination == dst.description ? destination : "\(destination) (\(dst))",
                      proto: proto, packet: packet, walk: w, end: end, origin: origin, notes: notes)
    }

    /// Bytes a tunnel of `type` (`vxlan`, `geneve`, `gre`) adds to the inner packet, for MTU
    /// arithmetic outside the walk.
    public static func tunnelOverhead(_ type: String, ipv6: Bool) -> Int { encapsulationOverhead(type, ipv6: ipv6) }
}

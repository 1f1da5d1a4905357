import Foundation
import Namespaces
import OpenVSwitch

/// A temporary OVS mirror that copies a port's traffic to one end of a veth pair, so that the
/// other end can be captured with libpcap: the way to capture an OVS port that is not a Linux
/// device in reach (patch ports, internal ports of other namespaces).
///
/// Everything it creates (the veth pair, the mirror's output port, the mirror) is recorded in a
/// `CleanupJournal` *before* it is created, and removed by that journal's `undoAll()` (the
/// capture command does this at the end, also after Ctrl-C; after a crash the next run or
/// `hopscope cleanup` does it). Mirrored packets carry 802.1Q tags of the port's VLAN.
public struct OVSMirror: Sendable {
    /// How the mirror selects packets.
    public enum Selection: Sendable, Equatable {
        /// Packets entering and leaving one port.
        case port(String)
        /// Every packet on the bridge: the fallback for patch ports, which OVS cannot select.
        case wholeBridge
    }

    public var instance: OVSInstance
    /// The OVS port the operator asked for.
    public var port: OVSInstance.Port
    public var selection: Selection
    /// The mirror's name in OVSDB (also its veth stem), e.g. `hscap-m1a2b`.
    public var name: String
    /// The veth end that OVS outputs to, and the end Hopscope captures on.
    public var outputEnd: String
    public var captureEnd: String
    /// Said to the operator: what is really captured when it differs from the port asked for.
    public var caveat: String?

    /// The capture point on the veth end, labelled with the OVS port it stands for.
    public var capturePoint: CapturePoint {
        let what: String
        switch selection {
        case .port(let p): what = "OVS port \(p) on bridge \(port.bridge)"
        case .wholeBridge: what = "all of OVS bridge \(port.bridge) (for patch port \(port.name))"
        }
        return CapturePoint(interface: captureEnd, namespace: instance.namespace,
                            label: instance.namespace == .current ? port.name : "\(port.name)@\(instance.namespace.description)",
                            about: "mirror of \(what) in network namespace \(instance.namespace.description), captured on \(captureEnd); 802.1Q tags show the port VLAN")
    }

    /// Creates the mirror for `port` on `instance`, recording every step in `journal` first.
    /// Names start with `prefix` (at most 8 characters, so device names stay within 15).
    /// Throws `CommandError` when `ip` or `ovs-vsctl` fails; what was created so far stays in the
    /// journal and is removed by its `undoAll()`.
    public static func create(for port: OVSInstance.Port, on instance: OVSInstance, journal: CleanupJournal,
                              prefix: String = "hscap-") async throws -> OVSMirror {
        precondition(prefix.count <= 8, "mirror prefix too long for 15-character device names")
        let stem = prefix + "m" + String(UInt16.random(in: 0...UInt16.max), radix: 16)
        let outputEnd = stem + "o"
        let captureEnd = stem + "c"
        let selection: Selection = port.isPatch ? .wholeBridge : .port(port.name)
        let caveat: String? = port.isPatch
            ? "\(port.name) is an OVS patch port, which OVS mirrors cannot select in the userspace datapath; Hopscope mirrors all of bridge \(port.bridge) instead, so this hop also shows the bridge's other traffic (capturing the tunnel underlay is the alternative)"
            : nil
        let ns = instance.namespace
        let nsName: String? = ns == .current ? nil : ns.description
        let mirror = OVSMirror(instance: instance, port: port, selection: selection, name: stem,
                               outputEnd: outputEnd, captureEnd: captureEnd, caveat: caveat)

        try journal.record(.deleteLink(name: outputEnd, namespace: nsName), note: "veth pair of mirror \(stem)")
        try await HostCommand.run(["ip", "link", "add", outputEnd, "type", "veth", "peer", "name", captureEnd], in: ns)
        for end in [outputEnd, captureEnd] {
            // No IPv6 on the pair: its router solicitations would show up in the capture.
            try await HostCommand.run(["sysctl", "-qw", "net.ipv6.conf.\(end).disable_ipv6=1"], in: ns)
            try await HostCommand.run(["ip", "link", "set", end, "up"], in: ns)
        }
        try journal.record(.run(argv: instance.vsctlArgv(["--if-exists", "del-port", port.bridge, outputEnd]), namespace: nsName,
                                environment: instance.environment, alreadyUndoneWhen: nil),
                           note: "output port of mirror \(stem)")
        try journal.record(.run(argv: instance.vsctlArgv(["--", "--id=@m", "get", "Mirror", stem, "--", "remove", "Bridge", port.bridge, "mirrors", "@m"]),
                                namespace: nsName, environment: instance.environment, alreadyUndoneWhen: "no row \"\(stem)\" in table Mirror"),
                           note: "mirror \(stem) of \(port.name)")
        // One OVSDB client for both transactions, used on a thread of its own (it blocks).
        let database = instance.database, bridge = port.bridge, marks = ["hopscope": "capture", "hopscope-pid": "\(getpid())"]
        try await withNetworkNamespace(.current) {
            let client = try OVSDBClient(target: database)
            try client.addPort(bridge: bridge, name: outputEnd, externalIDs: marks)
            switch selection {
            case .port(let p):
                try client.addMirror(bridge: bridge, name: stem, outputPort: outputEnd, sourcePorts: [p], destinationPorts: [p], externalIDs: marks)
            case .wholeBridge:
                try client.addMirror(bridge: bridge, name: stem, outputPort: outputEnd, selectAll: true, externalIDs: marks)
            }
        }
        return mirror
    }
}

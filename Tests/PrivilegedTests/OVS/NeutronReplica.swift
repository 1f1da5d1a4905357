import Foundation
import HopscopeModel
import OpenVSwitch

/// A replica of the real ML2/OVS DVR node in ../shared/data/ovs-flows/hotsos, built in a private
/// Open vSwitch (`OVSSandbox`): the same bridges, OpenFlow port numbers, VLAN tags, patch pairs
/// and VXLAN tunnels, loaded with the node's real flow dumps, plus an underlay bridge that holds
/// the tunnel endpoint. Every name carries the `hsovs-` prefix; flows refer to port numbers only,
/// so the real tables work unchanged.
struct NeutronReplica {
    static let bridges = ["int": "hsovs-int", "tun": "hsovs-tun", "data": "hsovs-data", "ex": "hsovs-ex", "phy": "hsovs-phy"]
    /// Bridge -> ports that packets may enter on (names as in this replica).
    static let inputPorts: [String: [String]] = [
        "hsovs-int": ["hsovs-tap", "hsovs-qr", "hsovs-sg", "hsovs-fg", "hsovs-qg", "hsovs-ha", "hsovs-ptun", "hsovs-intdata", "LOCAL"],
        "hsovs-tun": ["hsovs-pint", "hsovs-vx72", "hsovs-vx85"],
        "hsovs-data": ["hsovs-ens7", "hsovs-phydata"],
        "hsovs-ex": ["hsovs-exv", "LOCAL"],
    ]
    static let underlay = "hsovs-phy"

    let sandbox: OVSSandbox

    static func build(name: String) async throws -> NeutronReplica {
        let s = try await OVSSandbox.start(name: name)
        do {
            try await configure(s)
            return NeutronReplica(sandbox: s)
        } catch {
            await s.stop()
            throw error
        }
    }

    static func configure(_ s: OVSSandbox) async throws {
        for (a, b) in [("hsovs-tap", "hsovs-tapp"), ("hsovs-ens7", "hsovs-ens7p"), ("hsovs-exv", "hsovs-exvp"), ("hsovs-u", "hsovs-up")] {
            try await s.inNamespace(["ip", "link", "add", a, "type", "veth", "peer", "name", b])
        }
        func bridge(_ name: String, secure: Bool) -> [String] {
            ["--", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev"] + (secure ? ["fail_mode=secure"] : [])
        }
        func port(_ bridge: String, _ name: String, ofport: Int, tag: Int? = nil, type: String? = nil, options: [String: String] = [:]) -> [String] {
            var cmd = ["--", "add-port", bridge, name] + (tag.map { ["tag=\($0)"] } ?? [])
            cmd += ["--", "set", "interface", name, "ofport_request=\(ofport)"]
            if let type { cmd.append("type=\(type)") }
            for (k, v) in options.sorted(by: { $0.key < $1.key }) { cmd.append("options:\(k)=\(v)") }
            return cmd
        }
        var cmd: [String] = []
        cmd += bridge("hsovs-int", secure: true) + bridge("hsovs-tun", secure: true) + bridge("hsovs-data", secure: true)
        cmd += bridge("hsovs-ex", secure: false) + bridge("hsovs-phy", secure: false)
        cmd += port("hsovs-int", "hsovs-intdata", ofport: 1, type: "patch", options: ["peer": "hsovs-phydata"])
        cmd += port("hsovs-int", "hsovs-ptun", ofport: 2, type: "patch", options: ["peer": "hsovs-pint"])
        cmd += port("hsovs-int", "hsovs-ha", ofport: 3, tag: 1, type: "internal")
        cmd += port("hsovs-int", "hsovs-fg", ofport: 4, tag: 2, type: "internal")
        cmd += port("hsovs-int", "hsovs-qg", ofport: 5, tag: 2, type: "internal")
        cmd += port("hsovs-int", "hsovs-qr", ofport: 6, tag: 3, type: "internal")
        cmd += port("hsovs-int", "hsovs-sg", ofport: 7, tag: 3, type: "internal")
        cmd += port("hsovs-int", "hsovs-tap", ofport: 9, tag: 3)
        cmd += port("hsovs-tun", "hsovs-pint", ofport: 1, type: "patch", options: ["peer": "hsovs-ptun"])
        let vx = ["df_default": "true", "in_key": "flow", "out_key": "flow", "local_ip": "10.0.0.128"]
        cmd += port("hsovs-tun", "hsovs-vx72", ofport: 2, type: "vxlan", options: vx.merging(["remote_ip": "10.0.0.114"]) { a, _ in a })
        cmd += port("hsovs-tun", "hsovs-vx85", ofport: 3, type: "vxlan", options: vx.merging(["remote_ip": "10.0.0.133"]) { a, _ in a })
        cmd += port("hsovs-data", "hsovs-ens7", ofport: 1)
        cmd += port("hsovs-data", "hsovs-phydata", ofport: 2, type: "patch", options: ["peer": "hsovs-intdata"])
        cmd += port("hsovs-ex", "hsovs-exv", ofport: 1)
        cmd += port("hsovs-phy", "hsovs-u", ofport: 1)
        try await s.vsctl(Array(cmd.dropFirst()))
        for dev in ["hsovs-tap", "hsovs-tapp", "hsovs-ens7", "hsovs-ens7p", "hsovs-exv", "hsovs-exvp", "hsovs-u", "hsovs-up", "hsovs-phy"] {
            try await s.inNamespace(["ip", "link", "set", dev, "up"])
        }
        try await s.inNamespace(["ip", "addr", "add", "10.0.0.128/24", "dev", "hsovs-phy"])
        // The tunnel endpoints' MACs, so native tunneling builds headers instead of sending ARP.
        try await s.appctl(["tnl/neigh/set", "hsovs-phy", "10.0.0.114", "52:54:00:00:00:72"])
        try await s.appctl(["tnl/neigh/set", "hsovs-phy", "10.0.0.133", "52:54:00:00:00:85"])

        // The node's real flows. Learned flows (hard_timeout) are kept without their timeout so
        // they cannot expire during the test.
        for (source, bridge) in [("int", "hsovs-int"), ("tun", "hsovs-tun"), ("data", "hsovs-data"), ("ex", "hsovs-ex")] {
            let text = try String(contentsOfFile: dataPath("ovs-flows/hotsos/ovs-ofctl_dump-flows_br-\(source)"), encoding: .utf8)
            let flows = try FlowDump(parsing: text).flows
            let lines = flows.map { f in "table=\(f.table),cookie=0x\(String(f.cookie, radix: 16)),\(f.match.map(\.text).joined(separator: ",")) actions=\(f.actionsText)" }
            try await s.ofctl("del-flows", bridge)
            try await s.ofctl("add-flows", bridge, ["-"], input: lines.joined(separator: "\n") + "\n")
        }
        // Some learned MACs, so NORMAL forwards to learned ports as well as flooding.
        for (port, vlan, mac) in [("hsovs-qr", 3, "fa:16:3e:76:19:dd"), ("hsovs-tap", 3, "fa:16:3e:a7:45:cb"),
                                  ("hsovs-ptun", 3, "fa:16:3e:50:61:70"), ("hsovs-qg", 2, "fa:16:3e:e8:64:ce"),
                                  ("hsovs-intdata", 2, "52:54:00:bf:b2:60")] {
            try await s.appctl(["fdb/add", "hsovs-int", port, String(vlan), mac])
        }
        try await s.appctl(["fdb/add", "hsovs-ex", "hsovs-exv", "0", "52:54:00:00:0e:01"])
    }

    /// A file under ../shared/data.
    static func dataPath(_ relative: String) -> String {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.path != "/" {
            dir.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { break }
        }
        return dir.appendingPathComponent("../shared/data/\(relative)").standardized.path
    }
}

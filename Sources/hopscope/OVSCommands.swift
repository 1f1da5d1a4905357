import ArgumentParser
import Foundation
import HopscopeModel
import Namespaces
import Netlink
import Collector
import OpenVSwitch

extension CommandGroups {
    static var ovs: [any ParsableCommand.Type] { [OVSShow.self, OVSFlows.self, OVSTrace.self] }
}

/// Which Open vSwitch to talk to: `--node` picks a discovered instance by its node (namespace)
/// name, `--ovsdb unix:PATH` names a database socket directly, `--snapshot FILE` reads saved
/// state instead of the live switches.
struct OVSTargetOptions: ParsableArguments {
    @Option(name: .long, help: "Node (the network namespace ovs-vswitchd runs in) to read; see `hopscope ovs`.")
    var node: String?

    @Option(name: .long, help: "OVSDB socket to use instead of discovery, e.g. unix:/var/run/openvswitch/db.sock.")
    var ovsdb: String?

    @Flag(name: [.short, .long], help: "Print JSON with stable field names instead of text.")
    var json = false

    @OptionGroup var snapshot: SnapshotOptions

    func validate() throws {
        if let ovsdb, !ovsdb.hasPrefix("unix:") && !ovsdb.hasPrefix("/") {
            throw ValidationError("--ovsdb takes unix:PATH (Hopscope talks to the local socket only), not '\(ovsdb)'")
        }
        if ovsdb != nil && snapshot.isOffline { throw ValidationError("--ovsdb reads a live switch; with --snapshot pick one with --node") }
    }

    /// The live instances selected by the options.
    func instances() throws -> [OVSInstanceInfo] {
        if let ovsdb { return [OVSDiscovery.instance(forDatabase: ovsdb)] }
        let all = OVSDiscovery.discover()
        guard !all.isEmpty else {
            throw RuntimeError("no Open vSwitch found (no ovs-vswitchd or ovsdb-server process); start Open vSwitch or pass --ovsdb unix:PATH")
        }
        return try pick(all, node: \.node)
    }

    func pick<T>(_ all: [T], node name: KeyPath<T, String>) throws -> [T] {
        guard let node else { return all }
        let picked = all.filter { $0[keyPath: name] == node }
        guard !picked.isEmpty else {
            throw RuntimeError("no Open vSwitch on node \(node); nodes: \(all.map { $0[keyPath: name] }.joined(separator: ", "))")
        }
        return picked
    }

    /// The selected instances' state (database, and per bridge the flow dump, OpenFlow ports and
    /// MAC table), read now or taken from the snapshots, with the snapshot each came from (nil live).
    func states() async throws -> [(state: OVSInstanceSnapshot, snapshot: Snapshot?)] {
        if snapshot.isOffline {
            let all = try snapshot.load().flatMap { s in s.openVSwitch.map { (state: $0, snapshot: Optional(s)) } }
            guard !all.isEmpty else { throw RuntimeError("the snapshots hold no Open vSwitch") }
            return try pick(all, node: \.state.instance.node)
        }
        var out: [(state: OVSInstanceSnapshot, snapshot: Snapshot?)] = []
        for info in try instances() {
            let state = await SnapshotCollector.collectInstance(info, CollectorOptions())
            guard state.database != nil else { throw RuntimeError(state.warnings.joined(separator: "; ")) }
            out.append((state, nil))
        }
        return out
    }

    /// The one instance that holds `bridge` (or the only one selected), with its database.
    func state(holding bridge: String) async throws -> (OVSInstanceSnapshot, OVSDatabase) {
        let candidates = try await states()
        let found = candidates.compactMap { c in c.state.database.flatMap { $0.bridge(named: bridge) != nil ? (c.state, $0) : nil } }
        if found.count == 1 { return found[0] }
        if found.isEmpty {
            throw RuntimeError("no bridge \(bridge) on \(candidates.map(\.state.instance.node).joined(separator: ", "))")
        }
        throw RuntimeError("bridge \(bridge) exists on nodes \(found.map(\.0.instance.node).joined(separator: ", ")); pick one with --node")
    }
}

extension OVSInstanceSnapshot {
    /// The OpenFlow state of `bridge`; throws the collection's own warning when its flows could not be dumped.
    func openFlow(of bridge: String) throws -> OVSBridgeOpenFlow {
        if let failure = warnings.first(where: { $0.hasPrefix("flows of \(instance.node) \(bridge) ") }) { throw RuntimeError(failure) }
        guard let of = openFlow.first(where: { $0.bridge == bridge }) else {
            throw RuntimeError("no flows of \(bridge) were collected on \(instance.node)")
        }
        return of
    }
}

/// Runs a command body, turning runtime failures into a message on stderr and exit status 2 (the
/// CLI contract); exit statuses the body chose itself pass through.
func exitingWithStatus2(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("hopscope: \(error)\n".utf8))
        throw ExitCode(2)
    }
}

/// A runtime failure with a message that says what to do; exit code 2.
struct RuntimeError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// Colours for a terminal that wants them (never with NO_COLOR or when piped).
enum Style {
    static let enabled = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    static func bold(_ s: String) -> String { enabled ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
    static func red(_ s: String) -> String { enabled ? "\u{1B}[31m\(s)\u{1B}[0m" : s }
    static func green(_ s: String) -> String { enabled ? "\u{1B}[32m\(s)\u{1B}[0m" : s }
    static func yellow(_ s: String) -> String { enabled ? "\u{1B}[33m\(s)\u{1B}[0m" : s }
}

/// Prints `value` as pretty, key-sorted JSON (dates in ISO 8601). Shared by the lab and ovs commands.
func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

// MARK: hopscope ovs

struct OVSShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ovs",
        abstract: "Show every Open vSwitch: bridges, ports, VLANs, patch and tunnel peers, problems.",
        discussion: """
            Like `ovs-vsctl show`, read over OVSDB, for every Open vSwitch on the machine (one per
            namespace in a lab), with the namespace, each port's OpenFlow number, veth peer, local
            VLAN and the tunnel ID br-tun maps it to, and the problems OVS reports (interface errors,
            patch ports without peer, dead VLAN 4095, VLAN/tunnel mismatches).
            Exit status: 0 no problem found, 1 problems listed, 2 error.
            """)

    @OptionGroup var target: OVSTargetOptions

    func run() async throws {
        try await exitingWithStatus2 {
            var reports: [OVSReport] = []
            for (state, snapshot) in try await target.states() {
                guard let db = state.database else { continue }
                let inventory: NamespaceInventory?
                if let snapshot {
                    inventory = state.namespaceLabel.flatMap { snapshot.network.namespace(labelled: $0) }
                } else {
                    inventory = try VethPeers.liveInventory(of: state.instance)
                }
                reports.append(OVSReport(instance: state.instance, database: db, openFlow: state.openFlow,
                                         vethPeers: VethPeers.names(in: inventory)))
            }
            if target.json {
                try printJSON(reports)
            } else {
                for r in reports { print(r.text) }
            }
            if reports.contains(where: { !$0.problems.isEmpty }) { throw ExitCode(1) }
        }
    }
}

/// What `hopscope ovs` shows for one instance.
struct OVSReport: Encodable {
    var instance: OVSInstanceInfo
    var database: OVSDatabase
    var vlanTunnels: [VLANTunnelMapping]
    var vethPeers: [String: String]
    var problems: [String]

    init(instance: OVSInstanceInfo, database: OVSDatabase, openFlow: [OVSBridgeOpenFlow], vethPeers: [String: String]) {
        self.instance = instance
        self.database = database
        self.vethPeers = vethPeers
        var mappings: [VLANTunnelMapping] = []
        for of in openFlow {
            guard let dump = try? FlowDump(parsing: of.flowDump) else { continue }
            mappings += VLANTunnelMapping.find(in: dump.flows, bridge: of.bridge)
        }
        vlanTunnels = mappings
        problems = OVSReport.findProblems(database, mappings)
    }

    static func findProblems(_ db: OVSDatabase, _ mappings: [VLANTunnelMapping]) -> [String] {
        var out: [String] = []
        let names = Set(db.interfaces.map(\.name))
        for i in db.interfaces {
            if let e = i.error { out.append("interface \(i.name): \(e)") }
            if i.ofport == -1 && i.error == nil { out.append("interface \(i.name): OVS could not add it (ofport -1)") }
            if i.isPatch {
                let peer = i.options["peer"]
                if peer == nil { out.append("patch port \(i.name) has no options:peer") } else if !names.contains(peer!) {
                    out.append("patch port \(i.name): peer \(peer!) does not exist")
                }
            }
            if i.isTunnel && i.options["remote_ip"] == nil { out.append("tunnel \(i.name) has no options:remote_ip") }
        }
        for p in db.ports where p.tag == 4095 {
            out.append("port \(p.name) is on VLAN 4095 (Neutron's dead VLAN: the agent could not bind it; traffic is dropped)")
        }
        for p in db.ports {
            guard let tag = p.tag, let seg = p.otherConfig["segmentation_id"], p.otherConfig["network_type"] == "vxlan" || p.otherConfig["network_type"] == "gre" || p.otherConfig["network_type"] == "geneve" else { continue }
            let out_ = mappings.filter { $0.direction == .toTunnel && $0.vlan == tag }
            if let segID = UInt64(seg), !out_.isEmpty, !out_.contains(where: { $0.tunnelID == segID }) {
                out.append("port \(p.name): VLAN \(tag) is network \(seg) but \(out_[0].bridge) sends VLAN \(tag) with tun_id 0x\(String(out_[0].tunnelID, radix: 16))")
            }
            if let segID = UInt64(seg), !mappings.isEmpty, !mappings.contains(where: { $0.direction == .fromTunnel && $0.tunnelID == segID }) {
                out.append("port \(p.name): no flow maps tun_id 0x\(String(segID, radix: 16)) (network \(seg)) to local VLAN \(tag); traffic from other nodes will not arrive")
            }
        }
        return out
    }

    var text: String {
        var lines: [String] = []
        let ver = database.system?.ovsVersion.map { " ovs \($0)" } ?? ""
        lines.append(Style.bold("node \(instance.node)") + (instance.namespace.map { " (netns \($0))" } ?? " (initial namespace)")
                     + "  \(instance.databaseSocket)\(ver)")
        for bridge in database.bridges {
            var attrs: [String] = []
            if !bridge.datapathType.isEmpty { attrs.append("datapath \(bridge.datapathType)") }
            if let f = bridge.failMode { attrs.append("fail_mode \(f)") }
            if !bridge.protocols.isEmpty { attrs.append(bridge.protocols.joined(separator: ",")) }
            if !bridge.controllers.isEmpty {
                let c = bridge.controllers.compactMap { u in database.controllers.first { $0.uuid == u } }
                attrs.append("controller " + c.map { "\($0.target)\($0.isConnected ? "" : " (not connected)")" }.joined(separator: ","))
            }
            lines.append("  Bridge \(Style.bold(bridge.name))" + (attrs.isEmpty ? "" : "  [\(attrs.joined(separator: ", "))]"))
            for port in database.ports(of: bridge) {
                for iface in database.interfaces(of: port) {
                    var d: [String] = []
                    d.append("ofport \(iface.ofport.map(String.init) ?? "?")")
                    if !iface.type.isEmpty { d.append(iface.type) }
                    if let tag = port.tag {
                        var t = "vlan \(tag)"
                        if let m = vlanTunnels.first(where: { $0.direction == .toTunnel && $0.vlan == tag }) {
                            t += " -> tun_id 0x\(String(m.tunnelID, radix: 16))"
                        }
                        d.append(t)
                    }
                    if !port.trunks.isEmpty { d.append("trunks \(port.trunks.map(String.init).joined(separator: ","))") }
                    if let m = port.vlanMode { d.append("vlan_mode \(m)") }
                    if iface.isPatch, let peer = iface.options["peer"] {
                        d.append("peer \(database.bridge(holdingPort: peer).map { "\($0.name):" } ?? "?:")\(peer)")
                    }
                    if iface.isTunnel {
                        d.append("\(iface.options["local_ip"] ?? "*") -> \(iface.options["remote_ip"] ?? "?") key=\(iface.options["key"] ?? iface.options["out_key"] ?? "0")")
                    }
                    if let peer = vethPeers[iface.name] { d.append("veth peer \(peer)") }
                    if let l = iface.linkState { d.append("link \(l)") }
                    let name = port.name == iface.name ? port.name : "\(port.name)/\(iface.name)"
                    lines.append("    Port \(name)  " + d.joined(separator: ", "))
                    if let e = iface.error { lines.append("      " + Style.red("error: \(e)")) }
                }
            }
        }
        let fromTunnel = vlanTunnels.filter { $0.direction == .fromTunnel }
        if !fromTunnel.isEmpty {
            lines.append("  Tunnel ID -> local VLAN: " + fromTunnel.map { "0x\(String($0.tunnelID, radix: 16)) -> \($0.vlan)" }.joined(separator: ", "))
        }
        if problems.isEmpty {
            lines.append("  " + Style.green("no problems found"))
        } else {
            lines.append("  " + Style.red("\(problems.count) problem(s):"))
            for p in problems { lines.append("    - \(p)") }
        }
        return lines.joined(separator: "\n")
    }
}

/// veth peers of the interfaces in a switch's namespace, as `peer-name` or `peer-name@namespace`,
/// from the network inventory (peers resolved across namespaces by the Netlink module).
enum VethPeers {
    static func names(in inventory: NamespaceInventory?) -> [String: String] {
        guard let inventory else { return [:] }
        var out: [String: String] = [:]
        for l in inventory.links where l.kind == .veth {
            if let p = l.vethPeer {
                out[l.name] = p.namespace == inventory.namespace.label ? p.name : "\(p.name)@\(p.namespace)"
            } else if let i = l.lowerIndex {
                out[l.name] = "ifindex \(i)" + (l.lowerNamespaceID.map { " in netns id \($0)" } ?? "")
            }
        }
        return out
    }

    /// Reads the inventory of the namespace a live switch runs in (its name, else its daemon's pid).
    static func liveInventory(of instance: OVSInstanceInfo) throws -> NamespaceInventory? {
        let selector: NamespaceSelection
        if let ns = instance.namespace {
            selector = .some([ns])
        } else if let pid = instance.vswitchdPID ?? instance.ovsdbServerPID {
            selector = .some(["pid:\(pid)"])
        } else {
            selector = .current
        }
        return try NetworkInventoryReader.read(selector, options: InventoryOptions(processes: false, sysctls: false)).namespaces.first
    }
}

// MARK: hopscope flows

struct OVSFlows: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flows",
        abstract: "List a bridge's OpenFlow flows, one aligned line each.",
        discussion: "Reads `ovs-ofctl dump-flows` of the bridge (with the node's OVS_RUNDIR) and prints table, priority, packets, match and actions.")

    @Argument(help: "Bridge name, e.g. br-int.") var bridge: String
    @Option(name: .long, help: "Only this table (0-255).") var table: Int?
    @OptionGroup var target: OVSTargetOptions

    func validate() throws {
        if let table, !(0...255).contains(table) { throw ValidationError("--table must be 0-255") }
    }

    func run() async throws {
        try await exitingWithStatus2 {
            let (state, _) = try await target.state(holding: bridge)
            var dump = try FlowDump(parsing: try state.openFlow(of: bridge).flowDump)
            if let table { dump.flows = dump.flows.filter { $0.table == table } }
            if target.json {
                try printJSON(dump.flows)
                return
            }
            let rows = dump.flows.map { f in
                [String(f.table), String(f.priority), f.packets.map(String.init) ?? "-", f.matchText, f.actionsText]
            }
            print(TextTable.render(header: ["TABLE", "PRIO", "PACKETS", "MATCH", "ACTIONS"], rows: rows))
            for p in dump.problems { print(Style.yellow("warning: \(p.text)")) }
        }
    }
}

/// Aligned columns; the last column is not padded.
enum TextTable {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = Array(repeating: 0, count: header.count)
        for r in all { for (i, c) in r.enumerated() where i < header.count - 1 { widths[i] = max(widths[i], c.count) } }
        return all.map { r in
            r.enumerated().map { i, c in i < r.count - 1 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0) : c }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

// MARK: hopscope ovs-trace

struct OVSTrace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ovs-trace",
        abstract: "Show what a bridge does with a packet, flow by flow, and where it leaves or why it drops.",
        discussion: """
            FLOW uses ovs-appctl ofproto/trace syntax, e.g.
              hopscope ovs-trace br-int in_port=tap1,icmp,dl_src=fa:16:3e:00:00:01,nw_src=10.0.0.5,nw_dst=10.0.0.1
            Hopscope evaluates the bridge's flows itself (patch ports followed, NORMAL switching with the
            live MAC table, tunnels), printing one line per matched flow and then the result.
            Connection tracking is an input, never guessed: each ct() recirculation uses the next
            --ct-state (default trk|new, a new connection).
            Exit status: 0 forwarded, 1 dropped or unknown, 2 error.
            """)

    @Argument(help: "Bridge the packet enters, e.g. br-int.") var bridge: String
    @Argument(help: "The packet, in ofproto/trace flow syntax.") var flow: String
    @Option(name: .customLong("ct-state"), help: "ct_state after each ct() recirculation, in order (e.g. trk,est or +trk+est).")
    var ctStates: [String] = []
    @Flag(name: .customLong("no-mac-table"), help: "Ignore the learned MAC table: NORMAL floods.")
    var noMACTable = false
    @OptionGroup var target: OVSTargetOptions

    func validate() throws {
        do { _ = try PacketKey(parsing: flow) } catch { throw ValidationError("FLOW: \(error)") }
        for s in ctStates {
            do { _ = try ConntrackState.parse(s.replacingOccurrences(of: ",", with: "|")) } catch {
                throw ValidationError("--ct-state \(s): \(error)")
            }
        }
    }

    func run() async throws {
        try await exitingWithStatus2 {
            let packet = try PacketKey(parsing: flow)
            let (state, db) = try await target.state(holding: bridge)
            _ = try state.openFlow(of: bridge)
            if let failure = state.warnings.first(where: { $0.contains("could not") }) { throw RuntimeError(failure) }
            var openFlow = state.openFlow
            if noMACTable { for i in openFlow.indices { openFlow[i].fdb = [] } }
            let model = try OpenFlowModel(database: db, openFlow: openFlow)
            let states = try ctStates.map { try ConntrackState.parse($0.replacingOccurrences(of: ",", with: "|")) }
            let result: OpenFlowTrace
            do {
                result = try model.trace(bridge: bridge, packet: packet, conntrack: ConntrackInput(states: states))
            } catch let e as PacketKeyError {
                throw RuntimeError(e.message)
            }
            if target.json {
                try printJSON(TraceJSON(node: state.instance.node, trace: result, decision: result.decision, evidence: result.evidence))
            } else {
                print(TraceRenderer.render(result, node: state.instance.node))
            }
            if !result.decision.isForward { throw ExitCode(1) }
        }
    }
}

struct TraceJSON: Encodable {
    var node: String
    var trace: OpenFlowTrace
    var decision: Decision
    var evidence: [Evidence]
}

/// Human rendering of an evaluation: one line per matched flow (bridge, table, priority, match,
/// actions), indented by at most a few levels, then the verdict.
enum TraceRenderer {
    static func render(_ t: OpenFlowTrace, node: String) -> String {
        var lines: [String] = []
        lines.append("\(Style.bold("packet")) \(t.packet) on \(t.bridge) (node \(node))")
        var rows: [[String]] = []
        for s in t.steps {
            let indent = String(repeating: "  ", count: min(s.depth, 3))
            switch s.kind {
            case .flow:
                let rule = s.flow.flatMap { try? OpenFlowRule(parsing: $0) }
                rows.append([indent + s.bridge, "\(s.table ?? 0)", "\(s.priority ?? 0)", rule?.matchText ?? "", "actions=" + (rule?.actionsText ?? "")])
            case .tableMiss:
                rows.append([indent + s.bridge, "\(s.table ?? 0)", "-", "(no flow matches)", "table miss: drop"])
            case .output:
                continue
            default:
                rows.append([indent + s.bridge, "", "", "", "-> " + (s.note ?? s.kind.rawValue)])
            }
        }
        lines.append(TextTable.render(header: ["BRIDGE", "TABLE", "PRIO", "MATCH", "ACTIONS"], rows: rows))
        for l in t.learnedFlows { lines.append("learn() would add (not applied): \(l)") }
        switch t.decision {
        case .forward:
            lines.append(Style.green("Result: forwarded") + " to " + t.outputs.map(\.description).joined(separator: "; "))
        case .drop:
            lines.append(Style.red("Result: dropped") + (t.dropCauses.last.map { " - \($0)" } ?? ""))
        case .unknown(let reason):
            lines.append(Style.yellow("Result: unknown") + " - \(reason)")
            if !t.outputs.isEmpty { lines.append("  outputs found so far: " + t.outputs.map(\.description).joined(separator: "; ")) }
        }
        return lines.joined(separator: "\n")
    }
}

import ArgumentParser
import Foundation
import HopscopeModel
import Namespaces
import Netfilter
import Netlink
import Topology

extension CommandGroups {
    static var firewall: [any ParsableCommand.Type] { [FirewallCommand.self, FirewallTraceCommand.self] }
}

/// Where the rules come from: a live namespace (`-n`) or saved dumps (`--file`).
struct FirewallSourceOptions: ParsableArguments {
    @Option(name: [.customShort("n"), .customLong("netns")], help: "Network namespace to read (default: this one).")
    var netns: String?

    @Option(name: .customLong("file"), help: ArgumentHelp(
        "An iptables-save or ip6tables-save dump to read instead of a live namespace (repeatable).", valueName: "DUMP"))
    var files: [String] = []

    @Option(name: .customLong("ipset"), help: ArgumentHelp("An `ipset save` dump, with --file.", valueName: "DUMP"))
    var ipsetFile: String?

    @Flag(name: [.customShort("j"), .customLong("json")], help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var snapshot: SnapshotOptions

    func validate() throws {
        if netns != nil && !files.isEmpty { throw ValidationError("give either -n NAMESPACE (live) or --file DUMP (offline), not both") }
        if ipsetFile != nil && files.isEmpty { throw ValidationError("--ipset goes with --file; live namespaces are read with `ipset save`") }
        if snapshot.isOffline && !files.isEmpty { throw ValidationError("give either --snapshot FILE or --file DUMP, not both") }
    }

    var namespace: NamespaceRef { netns.map { .named($0) } ?? .current }
    /// Reading a live namespace (neither --file nor --snapshot).
    var isLive: Bool { files.isEmpty && !snapshot.isOffline }

    /// The namespace's inventory in the snapshot (for its routes), when reading a snapshot.
    func snapshotNamespace() throws -> NamespaceInventory? {
        guard snapshot.isOffline else { return nil }
        let selection: NamespaceSelection = netns.map { .some([$0]) } ?? .current
        guard let ns = try SnapshotSelection.inventory(selection, from: snapshot.load()).namespaces.first else {
            throw FirewallCLIFailure("the snapshot does not say which namespace it was collected in; pick one with -n NAMESPACE")
        }
        return ns
    }

    /// Reads the dumps: runs the save commands in the namespace, takes them from the snapshot, or reads the files.
    func load() async throws -> FirewallDumps {
        if snapshot.isOffline {
            let snapshots = try snapshot.load()
            guard let ns = try snapshotNamespace(),
                  let dumps = snapshots.lazy.compactMap({ $0.firewallDumps(namespace: ns.namespace.label) }).first else {
                throw FirewallCLIFailure("the snapshot holds no iptables state for namespace \(netns ?? "(collector's)")")
            }
            return dumps
        }
        guard !isLive else {
            do { return try await LiveFirewall.collect(in: namespace) } catch let e as CommandError {
                throw FirewallCLIFailure("could not read the firewall of \(netns ?? "this namespace"): \(e)\n(run as root; check the namespace with `ip netns list`)")
            }
        }
        var dumps = FirewallDumps()
        for path in files {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw FirewallCLIFailure("cannot read \(path): \(error.localizedDescription)")
            }
            if text.contains("ip6tables-save") {
                dumps.ip6tablesSave = text
            } else {
                dumps.iptablesSave = text
            }
        }
        if let ipsetFile {
            do { dumps.ipsetSave = try String(contentsOfFile: ipsetFile, encoding: .utf8) } catch {
                throw FirewallCLIFailure("cannot read \(ipsetFile): \(error.localizedDescription)")
            }
        }
        return dumps
    }

    func evaluator(_ dumps: FirewallDumps) throws -> FirewallEvaluator {
        do { return try dumps.evaluator() } catch let e as FirewallParseError {
            throw FirewallCLIFailure("cannot parse the rules: \(e)")
        }
    }
}

/// A runtime failure with an operator-facing message; exits 2.
struct FirewallCLIFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Colour only on a terminal and never with NO_COLOR.
enum FirewallPaint {
    static let enabled: Bool = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    static func red(_ s: String) -> String { enabled ? "\u{1B}[31m\(s)\u{1B}[0m" : s }
    static func green(_ s: String) -> String { enabled ? "\u{1B}[32m\(s)\u{1B}[0m" : s }
    static func yellow(_ s: String) -> String { enabled ? "\u{1B}[33m\(s)\u{1B}[0m" : s }
    static func dim(_ s: String) -> String { enabled ? "\u{1B}[2m\(s)\u{1B}[0m" : s }
}

/// Output helpers of the firewall commands.
enum FirewallOutput {
    static func json<T: Encodable>(_ value: T) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try enc.encode(value), as: UTF8.self))
    }

    /// Prints the error for the operator and returns exit code 2.
    static func failure(_ error: any Error) -> ExitCode {
        FileHandle.standardError.write(Data("hopscope: \(error)\n".utf8))
        return ExitCode(2)
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}

// MARK: hopscope firewall

struct FirewallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firewall",
        abstract: "Show a namespace's iptables rules with Neutron's comments and per-rule counters.",
        discussion: """
            Reads `iptables-save -c` and `ip6tables-save -c` in the namespace (or the dumps given with
            --file) and prints each table's chains: policy, rules with packet and byte counters, and
            the rule's comment. Chains without rules are hidden unless --all-chains is given.
            """)

    @OptionGroup var source: FirewallSourceOptions

    @Flag(name: .customLong("all-chains"), help: "Also show chains that have no rules.")
    var allChains = false

    @Flag(name: .customShort("4"), help: "Only IPv4 (iptables).")
    var ipv4Only = false

    @Flag(name: .customShort("6"), help: "Only IPv6 (ip6tables).")
    var ipv6Only = false

    func run() async throws {
        let dumps: FirewallDumps
        let evaluator: FirewallEvaluator
        do {
            dumps = try await source.load()
            evaluator = try source.evaluator(dumps)
        } catch {
            throw FirewallOutput.failure(error)
        }
        var rulesets: [FirewallRuleset] = []
        if !ipv6Only, let r = evaluator.ipv4 { rulesets.append(r) }
        if !ipv4Only, let r = evaluator.ipv6 { rulesets.append(r) }
        let views = rulesets.map { RulesetView($0, allChains: allChains) }
        if source.json {
            try FirewallOutput.json(views)
            return
        }
        if views.isEmpty { print("no iptables rules found"); return }
        for view in views { printRuleset(view) }
    }

    func printRuleset(_ view: RulesetView) {
        for table in view.tables where !table.chains.isEmpty {
            print("*\(table.name) (\(view.family == .ipv6 ? "ip6tables" : "iptables"))")
            for chain in table.chains {
                var head = "Chain \(chain.name)"
                if let p = chain.policy {
                    head += " (policy \(p == "DROP" ? FirewallPaint.red(p) : p)"
                    if let c = chain.counters { head += ", \(c.packets) packets, \(c.bytes) bytes" }
                    head += ")"
                } else {
                    head += " (\(chain.references) reference\(chain.references == 1 ? "" : "s"))"
                }
                print(head)
                guard !chain.rules.isEmpty else { continue }
                let widthP = max(4, chain.rules.map { $0.counters.map { String($0.packets).count } ?? 1 }.max() ?? 1)
                let widthB = max(5, chain.rules.map { $0.counters.map { String($0.bytes).count } ?? 1 }.max() ?? 1)
                let header: [String] = [FirewallOutput.pad("num", 4), FirewallOutput.pad("pkts", widthP), FirewallOutput.pad("bytes", widthB)]
                print("  " + header.joined(separator: " ") + "  rule")
                for r in chain.rules {
                    let p = r.counters.map { String($0.packets) } ?? "-"
                    let b = r.counters.map { String($0.bytes) } ?? "-"
                    let cells: [String] = [FirewallOutput.pad(String(r.position), 4), FirewallOutput.pad(p, widthP), FirewallOutput.pad(b, widthB)]
                    var line = "  " + cells.joined(separator: " ") + "  " + r.specification
                    if let c = r.comment { line += "  " + FirewallPaint.dim("# \(c)") }
                    print(line)
                }
            }
            print("")
        }
    }
}


/// The JSON and text view of a ruleset: stable field names, empty chains dropped unless asked.
struct RulesetView: Encodable {
    struct Rule: Encodable {
        var position: Int
        var line: Int
        var text: String
        var specification: String
        var comment: String?
        var target: String
        var counters: PacketCounters?
    }
    struct Chain: Encodable {
        var name: String
        var policy: String?
        var counters: PacketCounters?
        var references: Int
        var rules: [Rule]
    }
    struct Table: Encodable {
        var name: String
        var chains: [Chain]
    }
    var family: IPFamily
    var tables: [Table]

    init(_ r: FirewallRuleset, allChains: Bool) {
        family = r.family
        tables = r.tables.map { t in
            var refs: [String: Int] = [:]
            for c in t.chains {
                for rule in c.rules {
                    switch rule.target.action {
                    case .jump(let n), .goto(let n): refs[n, default: 0] += 1
                    default: break
                    }
                }
            }
            let chains = t.chains.filter { c in
                // An empty built-in chain still matters when its policy drops.
                allChains || !c.rules.isEmpty || c.policy == "DROP"
            }.map { c in
                Chain(name: c.name, policy: c.policy, counters: c.counters, references: refs[c.name] ?? 0,
                      rules: c.rules.map { Rule(position: $0.position, line: $0.lineNumber, text: $0.ruleText,
                                                specification: $0.specificationText, comment: $0.comment,
                                                target: $0.target.name, counters: $0.counters) })
            }
            return Table(name: t.name, chains: chains)
        }
    }
}

// MARK: hopscope firewall-trace

struct FirewallTraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firewall-trace",
        abstract: "Trace a packet through a namespace's iptables rules and name the rule that decides.",
        discussion: """
            FLOW uses the field names of `ovs-appctl ofproto/trace` (and `hopscope ovs-trace`), for
            example `icmp,nw_src=10.0.0.5,nw_dst=10.0.0.6,icmp_type=8,icmp_code=0` or
            `tcp,nw_src=10.0.0.6,nw_dst=10.0.0.5,tp_src=40000,tp_dst=22,tcp_flags=+syn`. A field a rule
            needs but FLOW does not give makes the verdict unknown, naming the rule and the field.

            The traversal: --in/--out for a routed packet (without --out, a live namespace is asked
            with `ip route get`); --physdev-in/--physdev-out for a packet bridged by a Linux bridge
            (--in is then the bridge, as in Neutron's qbr bridges); --local-in for a packet delivered
            to the namespace itself, --local-out for one it sends.

            Exit status: 0 the packet passes, 1 it is dropped or the verdict is unknown, 2 error.
            """)

    @OptionGroup var source: FirewallSourceOptions

    @Option(name: .customLong("in"), help: ArgumentHelp("Input interface (-i); the bridge for bridged traffic.", valueName: "IF"))
    var inInterface: String?

    @Option(name: .customLong("out"), help: ArgumentHelp("Output interface (-o).", valueName: "IF"))
    var outInterface: String?

    @Option(name: .customLong("physdev-in"), help: ArgumentHelp("Bridge port the packet enters on.", valueName: "IF"))
    var physdevIn: String?

    @Option(name: .customLong("physdev-out"), help: ArgumentHelp("Bridge port the packet leaves by.", valueName: "IF"))
    var physdevOut: String?

    @Option(name: .customLong("state"), help: ArgumentHelp("Connection state: new (first packet) or established (a later packet or reply); also related, invalid, untracked.", valueName: "STATE"))
    var state: String = "new"

    @Flag(name: .customLong("reply"), help: "The packet travels in the reply direction of its connection (--ctdir REPLY).")
    var reply = false

    @Option(name: .customLong("mark"), help: ArgumentHelp("Packet mark the packet arrives with (default 0).", valueName: "MARK"))
    var mark: String?

    @Option(name: .customLong("connmark"), help: ArgumentHelp("Connection mark of an established connection (conntrack -L shows it as mark=).", valueName: "MARK"))
    var connmark: String?

    @Option(name: .customLong("bridge-netfilter"), help: ArgumentHelp("on or off: whether bridged packets meet iptables (default: the namespace's net.bridge.bridge-nf-call-iptables, or on with --file).", valueName: "on|off"))
    var bridgeNetfilter: String?

    @Option(name: .customLong("address"), help: ArgumentHelp("An interface address for MASQUERADE, REDIRECT and addrtype with --file, as IF=ADDR/LEN (repeatable).", valueName: "IF=PREFIX"))
    var addresses: [String] = []

    @Flag(name: .customLong("local-in"), help: "The packet is delivered to this namespace (INPUT).")
    var localIn = false

    @Flag(name: .customLong("local-out"), help: "The packet is sent by this namespace (OUTPUT).")
    var localOut = false

    @Argument(help: "The packet, in ofproto/trace flow syntax.")
    var flow: String

    func validate() throws {
        if localIn && localOut { throw ValidationError("--local-in and --local-out exclude each other") }
        if localOut && (inInterface != nil || physdevIn != nil) { throw ValidationError("a packet sent locally has no input interface (drop --in/--physdev-in)") }
        if localIn && (outInterface != nil || physdevOut != nil) { throw ValidationError("a packet delivered locally has no output interface (drop --out/--physdev-out)") }
        guard ConnectionContext.State(rawValue: state) != nil else {
            throw ValidationError("--state must be one of \(ConnectionContext.State.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let b = bridgeNetfilter, b != "on" && b != "off" { throw ValidationError("--bridge-netfilter is on or off") }
        for m in [mark, connmark].compactMap({ $0 }) where Self.number(m) == nil {
            throw ValidationError("'\(m)' is not a mark: use a number such as 0x4000000")
        }
        for a in addresses {
            let parts = a.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, IPPrefix(parts[1]) != nil else { throw ValidationError("--address takes IF=ADDR/LEN, not '\(a)'") }
        }
        do { _ = try PacketKey(parsing: flow) } catch { throw ValidationError("\(error)") }
    }

    static func number(_ s: String) -> UInt32? {
        s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
    }

    func run() async throws {
        let packet = try PacketKey(parsing: flow)
        let dumps: FirewallDumps
        let evaluator: FirewallEvaluator
        do {
            var d = try await source.load()
            for a in addresses {
                let parts = a.split(separator: "=", maxSplits: 1)
                d.interfaceAddresses[String(parts[0]), default: []].append(IPPrefix(parts[1])!)
            }
            dumps = d
            evaluator = try source.evaluator(d)
        } catch {
            throw FirewallOutput.failure(error)
        }
        let traversal = makeTraversal(packet, dumps: dumps)
        let ctx = ConnectionContext(state: ConnectionContext.State(rawValue: state)!, isReply: reply,
                                    packetMark: mark.flatMap(Self.number) ?? 0, connectionMark: connmark.flatMap(Self.number))
        var trace = evaluator.trace(packet, through: traversal, connection: ctx)
        // A routed packet's output interface comes from the kernel's routing table when not
        // given, and routing happens after PREROUTING's DNAT: ask for the translated packet.
        if source.files.isEmpty, traversal.kind == .forwarded,
           outInterface == nil || trace.translations.contains(where: { $0.kind == .destination && $0.rule != nil }) {
            var routed = packet
            routed.ipDst = trace.translations.last(where: { $0.hook == "PREROUTING" }) != nil ? trace.translatedPacket.ipDst : packet.ipDst
            let decision: FirewallEvaluator.RouteDecision
            if let ns = try? source.snapshotNamespace() {
                decision = Self.route(routed, inInterface: inInterface, in: ns)
            } else {
                decision = await LiveFirewall.route(routed, inInterface: inInterface, in: source.namespace)
            }
            trace = evaluator.trace(packet, through: traversal, connection: ctx, route: { _ in decision })
        }
        if source.json {
            try FirewallOutput.json(trace)
        } else {
            render(trace)
        }
        if !trace.verdict.isForward { throw ExitCode(1) }
    }

    /// The routing decision for `packet` from a snapshot's routes, in the words `ip route get` answers.
    static func route(_ packet: PacketKey, inInterface: String?, in ns: NamespaceInventory) -> FirewallEvaluator.RouteDecision {
        guard let dst = packet.ipDst else { return .unknown("no destination address") }
        let d = RouteLookup.lookup(ns, destination: dst, source: inInterface == nil ? nil : packet.ipSrc, inInterface: inInterface,
                                   ipProtocol: packet.ipProto, sourcePort: packet.srcPort, destinationPort: packet.dstPort)
        switch d.outcome {
        case .local: return .local
        case .unicast(let dev, _): return dev == "lo" ? .local : .forward(outInterface: dev)
        case .rejected(let type): return .unknown("the route is \(type)")
        case .noRoute: return .unknown("no route to \(dst)")
        case .unknown(let why): return .unknown(why)
        }
    }

    func makeTraversal(_ packet: PacketKey, dumps: FirewallDumps) -> Traversal {
        let brnf: Bool = bridgeNetfilter.map { $0 == "on" }
            ?? (packet.isIPv6 ? dumps.bridgeCallsIp6tables : dumps.bridgeCallsIptables) ?? !source.files.isEmpty
        if localIn { return .deliveredLocally(in: inInterface, physdevIn: physdevIn) }
        if localOut { return .sentLocally(out: outInterface) }
        if physdevIn != nil || physdevOut != nil {
            return .bridged(bridge: inInterface ?? outInterface, from: physdevIn, to: physdevOut, netfilter: brnf)
        }
        return .routed(in: inInterface, out: outInterface)
    }

    func render(_ t: FirewallTrace) {
        let stateText = t.connection.state.rawValue + (t.connection.isReply ? ", reply direction" : "")
        print("Packet    \(t.packet)  (\(stateText))")
        print("Path      \(t.traversal)")
        print("")
        var lastHook = ""
        var lastTable = ""
        for s in t.steps {
            if s.hook != lastHook {
                print(s.hook)
                lastHook = s.hook
                lastTable = ""
            }
            let indent = String(repeating: "  ", count: s.depth + 2)
            switch s.event {
            case .enterChain:
                if s.table != lastTable { print("  \(s.table) \(s.chain)"); lastTable = s.table }
            case .matched, .unknown:
                guard let r = s.rule else { continue }
                var line = indent + "\(r.chain) #\(r.position)  \(r.specification)"
                if let c = r.comment { line += "  " + FirewallPaint.dim("# \(c)") }
                print(line)
                if let d = s.detail {
                    print(indent + "  -> " + (s.event == .unknown ? FirewallPaint.yellow("cannot tell: \(d)") : d))
                }
            case .fellOffChain:
                print(indent + FirewallPaint.dim("end of \(s.chain): return"))
            case .policy:
                print(indent + "\(s.chain) policy \(s.detail ?? "")")
            case .skipped:
                print("  \(s.table) \(s.chain): " + FirewallPaint.dim(s.detail ?? "skipped"))
            }
        }
        print("")
        if t.translations.isEmpty {
            print("NAT       none")
        } else {
            for (i, n) in t.translations.enumerated() {
                print((i == 0 ? "NAT       " : "          ") + n.description)
            }
            print("          the packet leaves as \(t.translatedPacket)")
        }
        for n in t.notes { print("Note      \(n)") }
        let verdict: String
        switch t.verdict {
        case .forward(let to): verdict = FirewallPaint.green("ACCEPT") + (to.isEmpty ? "" : " (on to \(to.joined(separator: ", ")))")
        case .drop: verdict = FirewallPaint.red(t.decidingRule?.text.contains("REJECT") == true ? "REJECT" : "DROP")
        case .unknown(let why): verdict = FirewallPaint.yellow("UNKNOWN") + ": \(why)"
        }
        print("Verdict   \(verdict)")
        if let r = t.decidingRule {
            if let c = r.comment { print("          \"\(c)\"") }
            if r.isPolicy {
                print("          by the policy of \(r.table) \(r.chain) (no rule decided)")
            } else {
                print("          by \(r.location): \(r.text)")
            }
            if let c = r.counters { print("          counters: \(c.packets) packets, \(c.bytes) bytes") }
        }
    }
}

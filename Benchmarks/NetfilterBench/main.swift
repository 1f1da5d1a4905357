import Foundation
import HopscopeModel
import Namespaces
import Netfilter
import NetfilterTestSupport

/// Netfilter benchmark: a compute node with 20,000+ rules in 1,000+ chains (Neutron hybrid
/// security groups) loaded into an `hsnf-bench-PID` namespace. Times `iptables-save -c` itself,
/// our parse of its output, the evaluator's set-up, and one packet's trace, and prints the ratios.
/// Needs root (it creates and always deletes the namespace).

/// Wall-clock and CPU time of one measurement. CPU time is what to compare on a shared, loaded
/// machine (two cores for several builds): wall-clock there mostly measures waiting.
struct Cost: Comparable {
    var wall: Duration
    var cpu: Duration
    static func < (a: Cost, b: Cost) -> Bool { a.cpu < b.cpu }
}

/// CPU time of the calling thread.
func threadCPU() -> Duration {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
}

/// CPU time of reaped child processes (iptables-save runs as one).
func childrenCPU() -> Duration {
    var r = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &r)
    return .seconds(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + .microseconds(r.ru_utime.tv_usec + r.ru_stime.tv_usec)
}

func median(_ xs: [Duration]) -> Duration { xs.sorted()[xs.count / 2] }
func median(_ xs: [Cost]) -> Cost { xs.sorted()[xs.count / 2] }
func ms(_ d: Duration) -> String { String(format: "%.2f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1e3) }
func us(_ d: Duration) -> String { String(format: "%.2f us", Double(d.components.attoseconds) / 1e12 + Double(d.components.seconds) * 1e6) }
func time(_ body: () throws -> Void) rethrows -> Cost {
    let start = ContinuousClock.now
    let cpu = threadCPU()
    try body()
    return Cost(wall: ContinuousClock.now - start, cpu: threadCPU() - cpu)
}
func ratio(_ a: Duration, _ b: Duration) -> String { String(format: "%.3f", a / b) }

let ports = 333, rulesPerPort = 38
let ns = "hsnf-bench-\(getpid())"
let generated = NeutronRules.largeCompute(ports: ports, rulesPerPort: rulesPerPort)

/// `--offline` skips the namespace and iptables (for profiling the parser and evaluator alone):
/// the generated text, with zero counters added, stands in for iptables-save's output.
let offline = CommandLine.arguments.contains("--offline")
if !offline { try await HostCommand.run(["ip", "netns", "add", ns]) }
do {
    var restore = Duration.zero
    var saveTimes: [Cost] = []
    var saved = ""
    if offline {
        saved = generated.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("-A") ? "[0:0] " + $0 : String($0) }.joined(separator: "\n")
        saveTimes = [Cost(wall: .milliseconds(1), cpu: .milliseconds(1))]
    } else {
        let start = ContinuousClock.now
        try await HostCommand.run(["iptables-restore"], in: .named(ns), input: generated, timeout: .seconds(300))
        restore = ContinuousClock.now - start
        for _ in 0..<5 {
            let start = ContinuousClock.now
            let cpu = childrenCPU()
            saved = try await HostCommand.run(["iptables-save", "-c"], in: .named(ns), timeout: .seconds(300)).standardOutput
            saveTimes.append(Cost(wall: ContinuousClock.now - start, cpu: childrenCPU() - cpu))
        }
    }

    var ruleset = try FirewallRuleset.parse(saved)
    if CommandLine.arguments.contains("--parse-only") && !CommandLine.arguments.contains("--trace-only") {
        // For profiling the parser alone.
        for _ in 0..<10 { ruleset = try FirewallRuleset.parse(saved) }
        exit(0)
    }
    var parseTimes: [Cost] = []
    for _ in 0..<20 {
        // The previous result is freed outside the timed region: freeing is not parsing.
        var fresh: FirewallRuleset?
        parseTimes.append(try time { fresh = try FirewallRuleset.parse(saved) })
        ruleset = fresh!
    }
    let rules = ruleset.allRules.count
    let chains = ruleset.tables.reduce(0) { $0 + $1.chains.count }
    let savedRuleLines = saved.split(separator: "\n").filter { $0.hasPrefix("[") }.count
    precondition(rules == savedRuleLines, "parsed \(rules) rules of \(savedRuleLines)")

    var evaluator = FirewallEvaluator(ipv4: ruleset)
    var compileTimes: [Cost] = []
    for _ in 0..<5 { compileTimes.append(time { evaluator = FirewallEvaluator(ipv4: ruleset) }) }

    // Packets to and from instances across the whole node; the worst case is the last port,
    // whose dispatch rules come after every other port's.
    let portList = (0..<ports).map { i -> (String, String) in
        let id = String(format: "%08x-%d", i * 2654435761 % 0xFFFFFFFF, i % 10)
        return (id, "10.\(i / 250 % 250).\(i % 250).5")
    }
    func packet(_ i: Int, _ j: Int) -> (PacketKey, Traversal) {
        let (id, ip) = portList[i]
        let inbound = j % 2 == 0
        let p = try! PacketKey(parsing: inbound
            ? "tcp,nw_src=10.\(j % 200).\(i % 250).9,nw_dst=\(ip),tp_src=40000,tp_dst=\(1000 + j % rulesPerPort),tcp_flags=+syn"
            : "udp,dl_src=fa:16:3e:\(String(format: "%02x:%02x", i / 256 % 256, i % 256)):01,nw_src=\(ip),nw_dst=198.51.100.1,tp_src=5000,tp_dst=53")
        let t: Traversal = inbound
            ? .bridged(bridge: "qbr\(id)d", from: "qvb\(id)d", to: "tap\(id)d")
            : .bridged(bridge: "qbr\(id)d", from: "tap\(id)d", to: "qvb\(id)d")
        return (p, t)
    }
    let mixed = (0..<2000).map { packet(($0 * 7919) % ports, $0) }
    let worst = (0..<2000).map { packet(ports - 1, $0) }
    var sink = 0
    if CommandLine.arguments.contains("--trace-only") {
        // For profiling the evaluator alone.
        for _ in 0..<10 { for (p, t) in mixed { sink &+= evaluator.trace(p, through: t).steps.count } }
        print(sink)
        exit(0)
    }
    for (p, t) in mixed.prefix(100) { sink &+= evaluator.trace(p, through: t).matchedRules.count }
    let mixedTime = time { for (p, t) in mixed { sink &+= evaluator.trace(p, through: t).steps.count } }
    let worstTime = time { for (p, t) in worst { sink &+= evaluator.trace(p, through: t).steps.count } }
    let verdicts = mixed.prefix(200).map { evaluator.trace($0.0, through: $0.1).verdict }
    let perPacket = Cost(wall: mixedTime.wall / mixed.count, cpu: mixedTime.cpu / mixed.count)
    let perWorst = Cost(wall: worstTime.wall / worst.count, cpu: worstTime.cpu / worst.count)
    let save = median(saveTimes), parse = median(parseTimes), setup = median(compileTimes)

    print("netfilter benchmark: \(rules) rules in \(chains) chains (\(ports) Neutron ports), \(saved.utf8.count / 1024) KiB of iptables-save -c")
    print("  iptables-restore (load)        \(ms(restore)) wall")
    print("                                 wall          CPU")
    print("  iptables-save -c (median of 5) \(ms(save.wall))   \(ms(save.cpu))")
    print("  our parse (median)             \(ms(parse.wall))   \(ms(parse.cpu))   = \(ratio(parse.cpu, save.cpu)) x iptables-save CPU, \(ratio(parse.wall, save.wall)) x wall   (target <= 20 ms, <= 0.1 x)")
    print("  our parse (fastest of 20)      \(ms(parseTimes.min { $0.wall < $1.wall }!.wall))   \(ms(parseTimes.min()!.cpu))")
    print("  evaluator set-up (median of 5) \(ms(setup.wall))   \(ms(setup.cpu))")
    print("  trace, mixed ports (2000)      \(us(perPacket.wall))   \(us(perPacket.cpu)) per packet   (target <= 20 us)")
    print("  trace, last port (2000)        \(us(perWorst.wall))   \(us(perWorst.cpu)) per packet")
    print("  verdicts of the first 200: \(verdicts.filter(\.isForward).count) accept, \(verdicts.filter(\.isDrop).count) drop, \(verdicts.filter(\.isUnknown).count) unknown  [\(sink % 10)]")
} catch {
    if !offline { _ = try? await HostCommand.run(["ip", "netns", "del", ns], check: false) }
    throw error
}
if !offline { try await HostCommand.run(["ip", "netns", "del", ns]) }

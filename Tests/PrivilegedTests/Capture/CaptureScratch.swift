import Foundation
import Namespaces
import Testing

/// Scratch hosts for capture tests: `hscap-` namespaces joined by veth pairs in a chain
/// (host 0 -- host 1 -- ... -- host N), with 198.18.K.0/24 on link K, forwarding on, and routes so
/// that host 0 can ping the last host through all the others. Always removed by `remove()`.
struct CaptureScratch {
    let stem: String
    let hosts: [String]

    /// Link K joins host K (end `hscap-lK-a`) and host K+1 (end `hscap-lK-b`).
    static func linkEnds(_ k: Int) -> (left: String, right: String) { ("hscap-l\(k)a", "hscap-l\(k)b") }

    static func address(link k: Int, right: Bool) -> String { "198.18.\(k).\(right ? 2 : 1)" }

    /// Runs `body` with a chain of `count` hosts and removes them afterwards, also when it throws.
    static func with<T>(_ count: Int, _ body: (CaptureScratch) async throws -> T) async throws -> T {
        let scratch = try await chain(count)
        do {
            let result = try await body(scratch)
            await scratch.remove()
            return result
        } catch {
            await scratch.remove()
            throw error
        }
    }

    /// Builds a chain of `count` hosts.
    static func chain(_ count: Int) async throws -> CaptureScratch {
        let stem = "hscap-t\(getpid() % 100000)-\(UInt16.random(in: 0...UInt16.max))"
        let hosts = (0..<count).map { "\(stem)-h\($0)" }
        let scratch = CaptureScratch(stem: stem, hosts: hosts)
        do {
            for h in hosts {
                try await HostCommand.run(["ip", "netns", "add", h])
                try await HostCommand.run(["ip", "link", "set", "lo", "up"], in: .named(h))
                try await HostCommand.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], in: .named(h))
            }
            for k in 0..<(count - 1) {
                let (l, r) = linkEnds(k)
                try await HostCommand.run(["ip", "link", "add", l, "netns", hosts[k], "type", "veth", "peer", "name", r, "netns", hosts[k + 1]])
                try await HostCommand.run(["ip", "addr", "add", address(link: k, right: false) + "/24", "dev", l], in: .named(hosts[k]))
                try await HostCommand.run(["ip", "addr", "add", address(link: k, right: true) + "/24", "dev", r], in: .named(hosts[k + 1]))
                try await HostCommand.run(["ip", "link", "set", l, "up"], in: .named(hosts[k]))
                try await HostCommand.run(["ip", "link", "set", r, "up"], in: .named(hosts[k + 1]))
            }
            // Default routes along the chain: left to right for host 0..N-2, right to left for the rest.
            for k in 0..<count {
                if k < count - 1 {
                    try await HostCommand.run(["ip", "route", "add", "198.18.0.0/15", "via", address(link: k, right: true)], in: .named(hosts[k]))
                }
                if k > 1 {
                    try await HostCommand.run(["ip", "route", "add", "198.18.0.0/24", "via", address(link: k - 1, right: false)], in: .named(hosts[k]))
                }
            }
        } catch {
            await scratch.remove()
            throw error
        }
        return scratch
    }

    /// The address of the last host, reachable from host 0 through every link.
    var farAddress: String { Self.address(link: hosts.count - 2, right: true) }

    /// Pings `address` from host `from`, `count` times, 50 ms apart.
    func ping(from: Int = 0, _ address: String, count: Int, payloadSize: Int = 56) async throws {
        try await HostCommand.run(["ping", "-n", "-q", "-c", "\(count)", "-i", "0.05", "-W", "1", "-s", "\(payloadSize)", address],
                                  in: .named(hosts[from]), timeout: .seconds(30))
    }

    func remove() async {
        for h in hosts {
            do { try await HostCommand.run(["ip", "netns", "del", h]) } catch { Issue.record("could not remove scratch namespace \(h): \(error)") }
        }
    }
}

/// The parts of `hopscope capture --json` the tests read.
struct CaptureJSONReport: Decodable {
    struct Hop: Decodable { var hop: String; var packets: Int; var kernelDropped: Int }
    struct Mirror: Decodable { var port: String }
    struct Timeline: Decodable {
        struct Sighting: Decodable { var hop: Int; var tunnel: String?; var vlan: Int?; var translation: String? }
        struct Journey: Decodable {
            var summary: String; var direction: String; var arrived: Bool; var lastSeenHop: Int; var missedHops: [Int]
            var sightings: [Sighting]; var answered: Bool?
        }
        var hops: [String]
        var journeys: [Journey]
    }
    var hops: [Hop]
    var mirrors: [Mirror]
    var timeline: Timeline?
    var mergedFile: String?
}

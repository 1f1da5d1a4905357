// swift-tools-version: 6.2
// Hopscope: where and why a packet stops on a Linux cloud node.
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode, warnings are errors in CI.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Hopscope",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hopscope", targets: ["hopscope"]),
        .library(name: "HopscopeModel", targets: ["HopscopeModel"]),
        .library(name: "Packets", targets: ["Packets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    targets: [
        // MARK: C system libraries and shims
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .target(name: "CShims", cSettings: [.define("_GNU_SOURCE")]),

        // MARK: Pure modules (no root, no C headers)
        .target(name: "HopscopeModel", swiftSettings: strict),
        // iptables-save / ipset parsing and the netfilter evaluator; LiveFirewall.swift alone runs commands.
        .target(name: "Netfilter", dependencies: ["HopscopeModel", "Namespaces"], swiftSettings: strict),
        .target(name: "Packets", dependencies: ["HopscopeModel"], swiftSettings: strict),
        // Open vSwitch: OVSDB client, flow parsing, OpenFlow evaluator (issue 4). No C target of its own.
        .target(name: "OpenVSwitch", dependencies: ["HopscopeModel", "Namespaces"], swiftSettings: strict),
        // The graph of one or more snapshots, and the hop-by-hop walk of a packet through it (issue 7).
        .target(name: "Topology", dependencies: ["HopscopeModel", "OpenVSwitch", "Netfilter"], swiftSettings: strict),
        .target(name: "PathTrace", dependencies: ["HopscopeModel", "Topology", "OpenVSwitch", "Netfilter"], swiftSettings: strict),
        // Checks on the walks (findings with evidence and advice), the diagnose planner and ranking (issue 8).
        .target(name: "Diagnosis", dependencies: ["HopscopeModel", "Topology", "PathTrace", "OpenVSwitch", "Netfilter"], swiftSettings: strict),

        // MARK: Modules that touch the kernel
        .target(name: "Namespaces", dependencies: [
            "CShims", "HopscopeModel",
            .product(name: "Subprocess", package: "swift-subprocess"),
        ], swiftSettings: strict),
        .target(name: "Netlink", dependencies: ["CMnl", "HopscopeModel", "Namespaces"], swiftSettings: strict),
        // Capture: live libpcap capture, mirrors, files, correlation. Offline reading (OfflineCapture*.swift) belongs to the packets area.
        .target(name: "Capture", dependencies: ["CPcap", "Namespaces", "HopscopeModel", "Packets", "OpenVSwitch"], swiftSettings: strict),
        // Builds a Snapshot from the live machine (issue 7).
        .target(name: "Collector", dependencies: ["HopscopeModel", "Namespaces", "Netlink", "Netfilter", "OpenVSwitch"], swiftSettings: strict),
        // Active probes (ping, ARP, TCP/UDP, DHCP, DNS) sent along the walks while capturing on their hops (issue 8).
        .target(name: "Probe", dependencies: ["HopscopeModel", "Namespaces", "Packets", "Capture", "Topology", "PathTrace", "Diagnosis"],
                swiftSettings: strict),
        // The built-in OpenStack lab (namespaces, OVS, iptables, dnsmasq) and its faults.
        .target(name: "Lab", dependencies: ["CShims", "HopscopeModel", "Namespaces", "Packets"], swiftSettings: strict),

        // MARK: The command-line tool
        .executableTarget(
            name: "hopscope",
            dependencies: [
                "HopscopeModel", "Namespaces", "Netlink", "Netfilter", "OpenVSwitch", "Packets", "Capture", "Lab",
                "Collector", "Topology", "PathTrace", "Diagnosis", "Probe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // Benchmark driver for the decoders (scripts/bench/packets.sh builds it -c release).
        .executableTarget(name: "PacketsBench", dependencies: ["Packets", "Capture", "HopscopeModel"], swiftSettings: strict),
        // Benchmarks (scripts/bench/*), printed figures with ratios against the peer tool.
        .executableTarget(
            name: "netfilter-bench",
            dependencies: ["Netfilter", "Namespaces", "HopscopeModel", "NetfilterTestSupport"],
            path: "Benchmarks/NetfilterBench",
            swiftSettings: strict),

        // MARK: Tests
        .testTarget(name: "HopscopeModelTests", dependencies: ["HopscopeModel"], swiftSettings: strict),
        .testTarget(name: "NamespacesTests", dependencies: ["Namespaces"], swiftSettings: strict),
        .testTarget(
            name: "PacketsTests", dependencies: ["Packets", "Capture", "HopscopeModel", "Namespaces"],
            exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "CMnl", "HopscopeModel"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        // Neutron-shaped iptables rules shared by the netfilter unit tests, the counter oracle and the benchmark.
        .target(name: "NetfilterTestSupport", path: "Tests/NetfilterTestSupport", swiftSettings: strict),
        .testTarget(name: "NetfilterTests", dependencies: ["Netfilter", "HopscopeModel", "NetfilterTestSupport"], swiftSettings: strict),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "CPcap", "Namespaces", "Packets"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "LabTests", dependencies: ["Lab", "HopscopeModel", "Packets"], swiftSettings: strict),
        .testTarget(name: "OpenVSwitchTests", dependencies: ["OpenVSwitch", "HopscopeModel"], swiftSettings: strict),
        // Walks on lab snapshots recorded by scripts/record-snapshots (and edited copies of them).
        // Snapshot edits (a link down, a rule removed, an OVSDB column changed) for the path and diagnosis tests.
        .target(name: "SnapshotTestSupport", dependencies: ["HopscopeModel"], path: "Tests/SnapshotTestSupport", swiftSettings: strict),
        .testTarget(name: "PathTraceTests", dependencies: ["PathTrace", "Topology", "HopscopeModel", "Lab", "SnapshotTestSupport"],
                    exclude: ["Fixtures"], swiftSettings: strict),
        // Probe recognition, capture planning and DHCP option checks on frames and recorded lab snapshots.
        .testTarget(name: "ProbeTests", dependencies: ["Probe", "Diagnosis", "PathTrace", "Topology", "Packets", "HopscopeModel"],
                    swiftSettings: strict),
        // Diagnoses of recorded lab snapshots and edited copies: every check, ranking, verdicts (issue 8).
        .testTarget(name: "DiagnosisTests", dependencies: ["Diagnosis", "PathTrace", "Topology", "HopscopeModel", "Lab", "SnapshotTestSupport"],
                    swiftSettings: strict),
        // Needs root: namespaces, Open vSwitch, iptables, captures. Run serialised (see scripts/test).
        .testTarget(
            name: "PrivilegedTests",
            dependencies: ["HopscopeModel", "Namespaces", "Netlink", "Netfilter", "NetfilterTestSupport", "OpenVSwitch",
                           "Packets", "Capture", "CPcap", "Lab", "hopscope", "Collector", "Diagnosis"],
            swiftSettings: strict),
        // Benchmark: the OpenFlow evaluator against `ovs-appctl ofproto/trace` (scripts/bench/ovs).
        .executableTarget(name: "ovs-bench", dependencies: ["OpenVSwitch", "HopscopeModel", "Namespaces"],
                          path: "Sources/ovs-bench", swiftSettings: strict),
    ]
)

import Foundation
import HopscopeModel

/// Everything deterministic about one lab: every namespace, device, address, identifier and
/// Open vSwitch instance, computed from the lab's prefix and instance count alone.
///
/// The same (prefix, instance count) always gives the same plan, so tests and other tools can
/// know every name without looking at the live system. `hopscope lab status --json` prints it
/// under `"plan"`. Pure value: no I/O, safe to share across tasks.
///
/// Shape of the lab (see README.md): a compute node with N instances plugged the hybrid way
/// (tap -> qbr -> qvb/qvo -> br-int), a network node with the DHCP agent's `qdhcp-` namespace and
/// the L3 agent's `qrouter-` namespace, VXLAN between the two `br-tun` bridges over an underlay
/// veth on `br-phy`, and an external namespace that is the provider gateway plus "the internet"
/// (an upstream DNS server and a client address).
///
/// Next to the namespace instances (`instances`), the compute node has `tapInstances`: guests
/// behind a real tap device held by a process of the lab's, as on a real compute node, plugged
/// the same hybrid way (`instancePorts` lists both kinds).
public struct LabPlan: Codable, Sendable, Equatable {
    /// Instances a lab gets when no count is given: two, so that one has a floating IP and one
    /// reaches the outside only through the router's SNAT.
    public static let defaultInstanceCount = 2
    /// Upper bound on instances (addresses .11 to .74 of the tenant subnet); 50 are used by the
    /// path benchmark (scripts/bench/path). With tap instances, at most `maximumInstanceCountWithTaps`.
    public static let maximumInstanceCount = 64
    /// Namespace instances that fit below the tap instances' addresses (.11 to .30).
    public static let maximumInstanceCountWithTaps = 20
    /// Tap-backed instances a lab gets when no count is given.
    public static let defaultTapInstanceCount = 1
    /// Upper bound on tap-backed instances (addresses .31 to .34).
    public static let maximumTapInstanceCount = 4
    /// Where lab state directories live unless a caller says otherwise.
    public static let defaultStateRoot = "/run/hopscope"

    /// The namespace prefix ("" for none): every namespace is `PREFIX-name`.
    public var prefix: String
    /// The lab's own directory: state file, OVS rundirs, dnsmasq files, scripts.
    public var stateDirectory: String
    /// Every namespace of the lab, in creation order.
    public var namespaces: [String]
    public var computeNode: LabNode
    public var networkNode: LabNode
    public var instances: [LabInstance]
    /// Guests behind a tap device on the compute node (`tapvm1`, ...), each held by a guest process.
    public var tapInstances: [LabTapInstance]
    public var network: LabTenantNetwork
    public var dhcp: LabDHCPServer
    public var router: LabRouter
    public var external: LabExternalNetwork
    /// The underlay (tunnel) subnet between the nodes' `br-phy` bridges.
    public var underlay: IPPrefix

    /// Computes the plan of the lab with `prefix`, `instances` namespace instances and
    /// `tapInstances` tap-backed ones. Throws `LabError.invalidPrefix`, `.invalidInstanceCount`
    /// or `.invalidTapInstanceCount` with what to do instead.
    public init(prefix: String?, instances: Int = LabPlan.defaultInstanceCount,
                tapInstances: Int = LabPlan.defaultTapInstanceCount,
                stateRoot: String = LabPlan.defaultStateRoot) throws {
        let prefix = prefix ?? ""
        try LabPlan.validate(prefix: prefix)
        guard (1...LabPlan.maximumInstanceCount).contains(instances) else {
            throw LabError.invalidInstanceCount(instances)
        }
        guard (0...LabPlan.maximumTapInstanceCount).contains(tapInstances) else {
            throw LabError.invalidTapInstanceCount(tapInstances)
        }
        // Above .30 the namespace instances' addresses would meet the tap instances'.
        guard tapInstances == 0 || instances <= LabPlan.maximumInstanceCountWithTaps else {
            throw LabError.invalidInstanceCount(instances)
        }
        self.prefix = prefix
        stateDirectory = LabPlan.stateDirectory(prefix: prefix, root: stateRoot)
        let ids = DeterministicIDs(seed: "hopscope-lab|\(prefix)")
        func ns(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix)-\(name)" }

        // Tenant network "private" with one subnet, a VXLAN segment and the default security group.
        let networkID = ids.uuid("network/private")
        let cidr = IPPrefix(address: .v4(IPv4Address(10, 0, 0, 0)), length: 24)
        let gateway = IPv4Address(10, 0, 0, 1)
        let securityGroupID = ids.uuid("security-group/default")
        network = LabTenantNetwork(
            id: networkID, name: "private", subnetID: ids.uuid("subnet/private"), cidr: cidr,
            gateway: gateway, segmentationID: 1001, mtu: 1450, dnsDomain: "openstacklocal",
            securityGroupID: securityGroupID,
            securityGroupIPSet: String(("NIPv4" + securityGroupID).prefix(31)),
            conntrackZone: 4097)
        underlay = IPPrefix(address: .v4(IPv4Address(198, 18, 0, 0)), length: 24)

        let computeAddress = IPv4Address(198, 18, 0, 1)
        let networkAddress = IPv4Address(198, 18, 0, 2)
        computeNode = LabNode(
            name: "compute1", role: .compute, namespace: ns("compute1"),
            ovs: LabOVS(rundir: "\(stateDirectory)/ovs-compute1"),
            underlayInterface: "eth1", underlayAddress: computeAddress,
            vxlanPort: NeutronNames.vxlanPort(remote: networkAddress), vxlanRemote: networkAddress,
            externalBridge: nil, externalInterface: nil,
            localVLAN: 1, agentCookie: ids.cookie("compute1/br-int"), tunnelCookie: ids.cookie("compute1/br-tun"))
        networkNode = LabNode(
            name: "network1", role: .network, namespace: ns("network1"),
            ovs: LabOVS(rundir: "\(stateDirectory)/ovs-network1"),
            underlayInterface: "eth1", underlayAddress: networkAddress,
            vxlanPort: NeutronNames.vxlanPort(remote: computeAddress), vxlanRemote: computeAddress,
            externalBridge: "br-ex", externalInterface: "eth2",
            // Local VLANs are per node; they differ here on purpose, as they often do in real
            // clouds, so that tunnel id <-> local VLAN translation is visible.
            localVLAN: 2, agentCookie: ids.cookie("network1/br-int"), tunnelCookie: ids.cookie("network1/br-tun"))

        // Ports get distinct 11-character name stems and distinct MACs, as Neutron guarantees.
        var stems = Set<String>()
        var macs = Set<MACAddress>()
        func portID(_ label: String) -> String {
            var salt = 0
            while true {
                let id = ids.uuid(salt == 0 ? "port/\(label)" : "port/\(label)/\(salt)")
                if stems.insert(NeutronNames.stem(id)).inserted { return id }
                salt += 1
            }
        }
        func portMAC(_ label: String) -> MACAddress {
            var salt = 0
            while true {
                let mac = ids.neutronMAC(salt == 0 ? "mac/\(label)" : "mac/\(label)/\(salt)")
                if macs.insert(mac).inserted { return mac }
                salt += 1
            }
        }

        var instanceList: [LabInstance] = []
        for i in 1...instances {
            let port = portID("vm\(i)")
            let mac = portMAC("vm\(i)")
            instanceList.append(LabInstance(
                name: "vm\(i)", namespace: ns("vm\(i)"), vmID: ids.uuid("server/vm\(i)"),
                portID: port, mac: mac, address: IPv4Address(value: IPv4Address(10, 0, 0, 10).value + UInt32(i)),
                interface: "eth0",
                tapDevice: NeutronNames.tap(port), tapMAC: NeutronNames.tapMAC(for: mac),
                linuxBridge: NeutronNames.qbr(port), bridgeVeth: NeutronNames.qvb(port), ovsPort: NeutronNames.qvo(port),
                localVLAN: computeNode.localVLAN,
                ingressChain: NeutronNames.securityGroupChain(direction: "i", portID: port),
                egressChain: NeutronNames.securityGroupChain(direction: "o", portID: port),
                spoofChain: NeutronNames.securityGroupChain(direction: "s", portID: port)))
        }
        self.instances = instanceList

        let dhcpPort = portID("dhcp")
        dhcp = LabDHCPServer(
            portID: dhcpPort, mac: portMAC("dhcp"), address: IPv4Address(10, 0, 0, 2),
            namespace: ns("qdhcp-\(networkID)"),
            interface: "ns-" + NeutronNames.stem(dhcpPort), bridgePort: NeutronNames.tap(dhcpPort),
            localVLAN: networkNode.localVLAN,
            directory: "\(stateDirectory)/dhcp/\(networkID)",
            upstreamServer: IPv4Address(198, 51, 100, 53))

        let routerID = ids.uuid("router/router1")
        let qrPort = portID("router-interface")
        let qgPort = portID("router-gateway")
        let floatingInstance = instanceList[0]
        router = LabRouter(
            id: routerID, name: "router1", namespace: ns("qrouter-\(routerID)"),
            internalPort: LabRouterPort(
                portID: qrPort, name: "qr-" + NeutronNames.stem(qrPort), bridgePort: NeutronNames.tap(qrPort),
                bridge: "br-int", mac: portMAC("router-interface"),
                address: IPPrefix(address: .v4(gateway), length: 24), localVLAN: networkNode.localVLAN),
            gatewayPort: LabRouterPort(
                portID: qgPort, name: "qg-" + NeutronNames.stem(qgPort), bridgePort: NeutronNames.tap(qgPort),
                bridge: "br-ex", mac: portMAC("router-gateway"),
                address: IPPrefix(address: .v4(IPv4Address(203, 0, 113, 10)), length: 24), localVLAN: nil),
            defaultGateway: IPv4Address(203, 0, 113, 1),
            floatingIP: LabFloatingIP(
                id: ids.uuid("floatingip/vm1"), address: IPv4Address(203, 0, 113, 20),
                fixedAddress: floatingInstance.address, instance: floatingInstance.name,
                portID: floatingInstance.portID))

        external = LabExternalNetwork(
            id: ids.uuid("network/public"), name: "public", namespace: ns("external"),
            cidr: IPPrefix(address: .v4(IPv4Address(203, 0, 113, 0)), length: 24),
            gateway: IPv4Address(203, 0, 113, 1), interface: "eth0",
            dnsServer: dhcp.upstreamServer, internetClient: IPv4Address(198, 51, 100, 7),
            dnsRecords: [
                LabDNSRecord(name: "mirror.example.org", address: IPv4Address(198, 51, 100, 80)),
                LabDNSRecord(name: "ntp.example.org", address: IPv4Address(198, 51, 100, 123)),
                LabDNSRecord(name: "www.example.org", address: IPv4Address(198, 51, 100, 10)),
            ])

        // Drawn last, so adding tap instances changes no other identifier of the plan.
        var tapList: [LabTapInstance] = []
        for i in 0..<tapInstances {
            let name = "tapvm\(i + 1)"
            let port = portID(name)
            let mac = portMAC(name)
            tapList.append(LabTapInstance(
                name: name, vmID: ids.uuid("server/\(name)"), portID: port, mac: mac,
                address: IPv4Address(value: IPv4Address(10, 0, 0, 31).value + UInt32(i)), hostName: name,
                namespace: computeNode.namespace,
                tapDevice: NeutronNames.tap(port), tapMAC: NeutronNames.tapMAC(for: mac),
                linuxBridge: NeutronNames.qbr(port), bridgeVeth: NeutronNames.qvb(port), ovsPort: NeutronNames.qvo(port),
                localVLAN: computeNode.localVLAN,
                ingressChain: NeutronNames.securityGroupChain(direction: "i", portID: port),
                egressChain: NeutronNames.securityGroupChain(direction: "o", portID: port),
                spoofChain: NeutronNames.securityGroupChain(direction: "s", portID: port),
                directory: "\(stateDirectory)/guests/\(name)"))
        }
        self.tapInstances = tapList

        namespaces = [computeNode.namespace, networkNode.namespace]
            + instanceList.map(\.namespace)
            + [dhcp.namespace, router.namespace, external.namespace]
    }

    enum CodingKeys: String, CodingKey {
        case prefix, stateDirectory, namespaces, computeNode, networkNode, instances, tapInstances, network, dhcp, router
        case external, underlay
    }

    /// Decodes a plan; one written before labs had tap instances decodes with none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prefix = try c.decode(String.self, forKey: .prefix)
        stateDirectory = try c.decode(String.self, forKey: .stateDirectory)
        namespaces = try c.decode([String].self, forKey: .namespaces)
        computeNode = try c.decode(LabNode.self, forKey: .computeNode)
        networkNode = try c.decode(LabNode.self, forKey: .networkNode)
        instances = try c.decode([LabInstance].self, forKey: .instances)
        tapInstances = try c.decodeIfPresent([LabTapInstance].self, forKey: .tapInstances) ?? []
        network = try c.decode(LabTenantNetwork.self, forKey: .network)
        dhcp = try c.decode(LabDHCPServer.self, forKey: .dhcp)
        router = try c.decode(LabRouter.self, forKey: .router)
        external = try c.decode(LabExternalNetwork.self, forKey: .external)
        underlay = try c.decode(IPPrefix.self, forKey: .underlay)
    }

    /// The directory of the lab with `prefix`: `ROOT/lab` or `ROOT/lab-PREFIX`.
    public static func stateDirectory(prefix: String, root: String = defaultStateRoot) -> String {
        prefix.isEmpty ? "\(root)/lab" : "\(root)/lab-\(prefix)"
    }

    /// Accepts "" or 1-16 of `a-z`, `0-9` and `-`, starting with a letter, so that namespace
    /// names, socket paths (108-byte limit) and state directories stay short and safe.
    public static func validate(prefix: String) throws {
        if prefix.isEmpty { return }
        let allowed = prefix.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
        guard prefix.count <= 16, allowed, let first = prefix.utf8.first, first >= 97, first <= 122,
              !prefix.hasSuffix("-") else {
            throw LabError.invalidPrefix(prefix)
        }
    }

    /// The instance named `name` (`vm1`, ...), if the lab has it.
    public func instance(named name: String) -> LabInstance? { instances.first { $0.name == name } }

    /// The tap-backed instance named `name` (`tapvm1`, ...), if the lab has it.
    public func tapInstance(named name: String) -> LabTapInstance? { tapInstances.first { $0.name == name } }

    /// Every instance the compute node plugs, namespace instances first, then tap instances.
    public var instancePorts: [any LabInstancePort] { instances + tapInstances }

    /// The instance (of either kind) named `name`, if the lab has it.
    public func instancePort(named name: String) -> (any LabInstancePort)? { instancePorts.first { $0.name == name } }

    /// The instance that carries the floating IP (always the first).
    public var floatingIPInstance: LabInstance { instances[0] }

    /// The instance used for checks that must not depend on the floating IP: the last one
    /// (the same as the floating-IP instance when the lab has only one).
    public var probeInstance: LabInstance { instances[instances.count - 1] }

    /// Both nodes, compute first.
    public var nodes: [LabNode] { [computeNode, networkNode] }

    /// Resolves a short lab name (`compute1`, `network1`, `vm1`, `qdhcp`, `qrouter`, `external`)
    /// or a full namespace name of this lab to the namespace name.
    public func namespace(for name: String) -> String? {
        if namespaces.contains(name) { return name }
        switch name {
        case computeNode.name: return computeNode.namespace
        case networkNode.name: return networkNode.namespace
        case "qdhcp", "dhcp": return dhcp.namespace
        case "qrouter", "router": return router.namespace
        case "external", "ext": return external.namespace
        default: return instance(named: name)?.namespace
        }
    }
}

/// One simulated hypervisor or network node: a namespace with its own Open vSwitch.
public struct LabNode: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable { case compute, network }
    /// `compute1` or `network1`.
    public var name: String
    public var role: Role
    public var namespace: String
    public var ovs: LabOVS
    public var integrationBridge = "br-int"
    public var tunnelBridge = "br-tun"
    /// The OVS bridge holding the underlay port and the node's tunnel address.
    public var underlayBridge = "br-phy"
    /// br-int's patch port to br-tun, and br-tun's patch port to br-int (Neutron's names).
    public var integrationPatchPort = "patch-tun"
    public var tunnelPatchPort = "patch-int"
    /// The veth end that links this node to the other one (a member of `underlayBridge`).
    public var underlayInterface: String
    /// The tunnel endpoint address, on `underlayBridge`.
    public var underlayAddress: IPv4Address
    /// The VXLAN port on br-tun: `vxlan-<remote ip in hex>`.
    public var vxlanPort: String
    public var vxlanRemote: IPv4Address
    /// `br-ex` on the network node.
    public var externalBridge: String?
    /// The provider-network port on `br-ex` (veth to the external namespace).
    public var externalInterface: String?
    /// The local VLAN the OVS agent gave the tenant network on this node.
    public var localVLAN: UInt16
    /// The cookie the agent puts on its br-int flows and on its br-tun flows.
    public var agentCookie: UInt64
    public var tunnelCookie: UInt64
    /// OpenFlow port numbers requested for br-tun's ports.
    public var tunnelPatchOFPort = 1
    public var vxlanOFPort = 2
    /// OpenFlow port number requested for br-int's patch port.
    public var integrationPatchOFPort = 1
}

/// One Open vSwitch instance (ovsdb-server + ovs-vswitchd) with its own run directory.
///
/// Every OVS tool must be pointed at it, or it talks to (or hangs on) /var/run/openvswitch:
/// run the tool with `environment` (or use `argv(_:_:)`, which prefixes `env`). The unix
/// sockets are reachable from any namespace; only the daemons run inside the node's namespace.
public struct LabOVS: Codable, Sendable, Equatable {
    public var rundir: String
    public init(rundir: String) { self.rundir = rundir }

    /// `unix:RUNDIR/db.sock`, for `ovs-vsctl --db=` and `ovsdb-client`.
    public var databaseSocket: String { "unix:\(rundir)/db.sock" }
    public var databaseFile: String { "\(rundir)/conf.db" }
    public var vswitchdPIDFile: String { "\(rundir)/ovs-vswitchd.pid" }
    public var ovsdbServerPIDFile: String { "\(rundir)/ovsdb-server.pid" }
    /// The OpenFlow management socket of `bridge`, usable as `ovs-ofctl`'s switch argument.
    public func managementSocket(bridge: String) -> String { "unix:\(rundir)/\(bridge).mgmt" }

    /// The environment every OVS command needs for this instance.
    public var environment: [String: String] {
        ["OVS_RUNDIR": rundir, "OVS_DBDIR": rundir, "OVS_LOGDIR": rundir, "OVS_SYSCONFDIR": rundir]
    }

    /// An argument vector that runs `tool args...` against this instance from any namespace,
    /// e.g. `argv("ovs-appctl", ["-t", "ovs-vswitchd", "ofproto/trace", "br-int", "in_port=1"])`.
    public func argv(_ tool: String, _ arguments: [String]) -> [String] {
        ["env"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + [tool] + arguments
    }
}

/// One Nova instance: a namespace whose `eth0` is the veth peer of the port's tap device.
public struct LabInstance: Codable, Sendable, Equatable {
    public var name: String
    public var namespace: String
    /// The Nova server UUID (OVS `external_ids:vm-uuid`).
    public var vmID: String
    /// The Neutron port UUID (OVS `external_ids:iface-id`).
    public var portID: String
    public var mac: MACAddress
    public var address: IPv4Address
    /// The interface inside the instance.
    public var interface: String
    /// `tap<11>` on the compute node, member of `linuxBridge`; MAC `fe:16:3e:..` as Nova sets it.
    public var tapDevice: String
    public var tapMAC: MACAddress
    /// `qbr<11>`: the per-port Linux bridge where security groups are applied.
    public var linuxBridge: String
    /// `qvb<11>` (in the qbr) and its veth peer `qvo<11>` (on br-int).
    public var bridgeVeth: String
    public var ovsPort: String
    /// The br-int VLAN tag of `ovsPort`.
    public var localVLAN: UInt16
    /// The port's security-group chains in the compute node's filter table.
    public var ingressChain: String
    public var egressChain: String
    public var spoofChain: String
}

/// The tenant network and its subnet.
public struct LabTenantNetwork: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var subnetID: String
    public var cidr: IPPrefix
    public var gateway: IPv4Address
    /// The VXLAN VNI (tunnel id) of the network.
    public var segmentationID: UInt32
    /// Network MTU: 1500 minus VXLAN overhead, as Neutron computes it.
    public var mtu: Int
    public var dnsDomain: String
    /// The `default` security group of the instances.
    public var securityGroupID: String
    /// The ipset holding the group's member addresses (remote-group rule).
    public var securityGroupIPSet: String
    /// The conntrack zone the hybrid firewall gives ports of this network.
    public var conntrackZone: Int
}

/// The DHCP agent's port and dnsmasq for the tenant network.
public struct LabDHCPServer: Codable, Sendable, Equatable {
    public var portID: String
    public var mac: MACAddress
    public var address: IPv4Address
    /// `qdhcp-<network uuid>` (with the lab prefix).
    public var namespace: String
    /// `ns-<11>` inside the namespace, veth peer of `bridgePort` (Neutron with `ovs_use_veth`).
    public var interface: String
    /// `tap<11>` on the network node's br-int.
    public var bridgePort: String
    public var localVLAN: UInt16
    /// Neutron's `/var/lib/neutron/dhcp/<network uuid>/`: host, addn_hosts, opts, leases, pid.
    public var directory: String
    /// The `--server=` dnsmasq forwards to.
    public var upstreamServer: IPv4Address

    public var hostsFile: String { "\(directory)/host" }
    public var additionalHostsFile: String { "\(directory)/addn_hosts" }
    public var optionsFile: String { "\(directory)/opts" }
    public var leasesFile: String { "\(directory)/leases" }
    public var pidFile: String { "\(directory)/pid" }
}

/// The L3 agent's legacy (centralised) router.
public struct LabRouter: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    /// `qrouter-<router uuid>` (with the lab prefix).
    public var namespace: String
    /// `qr-` on the tenant subnet (plugged into br-int).
    public var internalPort: LabRouterPort
    /// `qg-` on the external network (plugged into br-ex).
    public var gatewayPort: LabRouterPort
    public var defaultGateway: IPv4Address
    public var floatingIP: LabFloatingIP
}

/// One router port: the device in the router namespace and its veth peer on an OVS bridge.
public struct LabRouterPort: Codable, Sendable, Equatable {
    public var portID: String
    /// `qr-<11>` or `qg-<11>`.
    public var name: String
    /// `tap<11>` on `bridge`.
    public var bridgePort: String
    public var bridge: String
    public var mac: MACAddress
    public var address: IPPrefix
    /// The br-int tag of `bridgePort`, nil on br-ex.
    public var localVLAN: UInt16?
}

/// A floating IP: DNAT from `address` to `fixedAddress`, SNAT back.
public struct LabFloatingIP: Codable, Sendable, Equatable {
    public var id: String
    public var address: IPv4Address
    public var fixedAddress: IPv4Address
    /// The instance name (`vm1`).
    public var instance: String
    public var portID: String
}

/// The provider network and what lies beyond it: one namespace holding the gateway address on
/// `interface` and, on `lo`, the upstream DNS server and a client address "on the internet".
public struct LabExternalNetwork: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var namespace: String
    public var cidr: IPPrefix
    public var gateway: IPv4Address
    public var interface: String
    /// The upstream DNS server (a dnsmasq answering `dnsRecords`).
    public var dnsServer: IPv4Address
    /// A source address for traffic from the internet to floating IPs.
    public var internetClient: IPv4Address
    public var dnsRecords: [LabDNSRecord]
    /// The upstream dnsmasq's pid file, inside the lab's state directory.
    public func dnsPIDFile(stateDirectory: String) -> String { "\(stateDirectory)/upstream-dns/pid" }
}

/// A name the upstream DNS server answers.
public struct LabDNSRecord: Codable, Sendable, Equatable {
    public var name: String
    public var address: IPv4Address
}

/// Lab failures with what was wrong and what to do.
public enum LabError: Error, CustomStringConvertible, Equatable {
    case invalidPrefix(String)
    case invalidInstanceCount(Int)
    case invalidTapInstanceCount(Int)
    case notRoot
    case missingTool(String, package: String)
    case missingKernelModule(String)
    case notUp(prefix: String)
    case unknownFault(String, known: [String])
    case unknownCheck(String, known: [String])
    case unknownNamespace(String)
    case unknownInstance(String, known: [String])
    case busy(lockFile: String)
    case setupFailed(step: String, detail: String)
    /// The tap guest process is not running (its log's last lines attached).
    case guestNotRunning(String, logTail: String)
    /// The tap guest did not answer a command in time.
    case guestNotAnswering(String, logTail: String)
    /// A fault cannot be aimed at an instance, or not at that one.
    case faultTarget(fault: String, detail: String)

    public var description: String {
        switch self {
        case .invalidPrefix(let p):
            return "invalid lab prefix '\(p)': use 1-16 characters of a-z, 0-9 and '-', starting with a letter"
        case .invalidInstanceCount(let n):
            return "invalid instance count \(n): use 1 to \(LabPlan.maximumInstanceCount), or 1 to \(LabPlan.maximumInstanceCountWithTaps) with tap instances (--tap-instances 0 for more)"
        case .invalidTapInstanceCount(let n):
            return "invalid tap instance count \(n): use 0 to \(LabPlan.maximumTapInstanceCount)"
        case .notRoot:
            return "the lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create namespaces; run it with sudo"
        case .missingTool(let tool, let package):
            return "'\(tool)' was not found; install it with: apt-get install \(package)"
        case .missingKernelModule(let module):
            return "the kernel module \(module) is not loaded (security groups on bridges need it); load it with: modprobe \(module)"
        case .notUp(let prefix):
            let flag = prefix.isEmpty ? "" : " --prefix \(prefix)"
            return "no lab is up\(prefix.isEmpty ? "" : " with prefix '\(prefix)'"); start one with: hopscope lab up\(flag)"
        case .unknownFault(let name, let known):
            return "unknown fault '\(name)'; known faults: \(known.joined(separator: ", ")) (see: hopscope lab faults)"
        case .unknownCheck(let name, let known):
            return "unknown check '\(name)'; the lab's checks: \(known.joined(separator: ", "))"
        case .unknownNamespace(let name):
            return "'\(name)' is not a namespace of this lab; use compute1, network1, vm1..., qdhcp, qrouter or external "
                + "(a tap instance has no namespace of its own: its tap lives in compute1)"
        case .unknownInstance(let name, let known):
            return "the lab has no instance '\(name)' of that kind; use one of: \(known.joined(separator: ", "))"
        case .busy(let lockFile):
            return "another hopscope lab command is working on this lab (lock \(lockFile)); wait for it or use another --prefix"
        case .setupFailed(let step, let detail):
            return "lab setup failed while \(step): \(detail)"
        case .guestNotRunning(let name, let log):
            return "the tap guest \(name) is not running; restart the lab with: hopscope lab up"
                + (log.isEmpty ? "" : " (its log ends: \(log))")
        case .guestNotAnswering(let name, let log):
            return "the tap guest \(name) did not answer in time; see its guest.log in the lab's state directory"
                + (log.isEmpty ? "" : " (it ends: \(log))")
        case .faultTarget(let fault, let detail):
            return "fault \(fault): \(detail)"
        }
    }
}

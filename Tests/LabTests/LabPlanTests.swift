import Foundation
import HopscopeModel
import Testing
@testable import Lab

@Suite struct LabPlanTests {
    @Test func samePrefixAndCountGiveTheSamePlan() throws {
        let a = try LabPlan(prefix: "hst", instances: 3)
        let b = try LabPlan(prefix: "hst", instances: 3)
        #expect(a == b)
        let other = try LabPlan(prefix: "hsx", instances: 3)
        #expect(other.network.id != a.network.id, "identifiers depend on the prefix")
        #expect(other.instances[0].portID != a.instances[0].portID)
    }

    @Test func addingInstancesKeepsTheOthersUnchanged() throws {
        let two = try LabPlan(prefix: "hst", instances: 2)
        let four = try LabPlan(prefix: "hst", instances: 4)
        #expect(Array(four.instances.prefix(2)) == two.instances)
        #expect(four.router == two.router)
        #expect(four.dhcp == two.dhcp)
    }

    @Test func namespacesCarryThePrefixOrArePlain() throws {
        let p = try LabPlan(prefix: "hst", instances: 2)
        #expect(p.computeNode.namespace == "hst-compute1")
        #expect(p.networkNode.namespace == "hst-network1")
        #expect(p.instances.map(\.namespace) == ["hst-vm1", "hst-vm2"])
        #expect(p.dhcp.namespace == "hst-qdhcp-\(p.network.id)")
        #expect(p.router.namespace == "hst-qrouter-\(p.router.id)")
        #expect(p.external.namespace == "hst-external")
        #expect(p.namespaces.allSatisfy { $0.hasPrefix("hst-") })
        #expect(Set(p.namespaces).count == p.namespaces.count)
        #expect(p.stateDirectory == "/run/hopscope/lab-hst")
        #expect(p.computeNode.ovs.rundir == "/run/hopscope/lab-hst/ovs-compute1")

        let plain = try LabPlan(prefix: nil, instances: 1)
        #expect(plain.namespaces == ["compute1", "network1", "vm1", "qdhcp-\(plain.network.id)", "qrouter-\(plain.router.id)", "external"])
        #expect(plain.stateDirectory == "/run/hopscope/lab")
    }

    @Test func identifiersLookLikeNeutronsAndAreDistinct() throws {
        let p = try LabPlan(prefix: "hst", instances: LabPlan.maximumInstanceCount, tapInstances: 0)
        let uuid = #/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/#
        let ids = [p.network.id, p.network.subnetID, p.network.securityGroupID, p.router.id, p.router.floatingIP.id,
                   p.dhcp.portID, p.router.internalPort.portID, p.router.gatewayPort.portID, p.external.id]
            + p.instances.flatMap { [$0.portID, $0.vmID] }
        for id in ids { #expect(id.wholeMatch(of: uuid) != nil, "\(id) is not a version-4 UUID") }
        #expect(Set(ids).count == ids.count)

        let macs = p.instances.map(\.mac) + [p.dhcp.mac, p.router.internalPort.mac, p.router.gatewayPort.mac]
        #expect(Set(macs).count == macs.count)
        for mac in macs { #expect(mac.description.hasPrefix("fa:16:3e:")) }
        for vm in p.instances {
            #expect(vm.tapMAC.description == "fe" + vm.mac.description.dropFirst(2))
        }
        // Device name stems must differ, or two ports would share a tap/qbr/qvo name.
        let stems = p.instances.map { NeutronNames.stem($0.portID) } + [p.dhcp.portID, p.router.internalPort.portID, p.router.gatewayPort.portID].map(NeutronNames.stem)
        #expect(Set(stems).count == stems.count)
    }

    @Test func deviceNamesFollowNeutronsRules() throws {
        let p = try LabPlan(prefix: "hst", instances: 2)
        let vm = p.instances[0]
        let stem = String(vm.portID.prefix(11))
        #expect(vm.tapDevice == "tap" + stem)
        #expect(vm.linuxBridge == "qbr" + stem)
        #expect(vm.bridgeVeth == "qvb" + stem)
        #expect(vm.ovsPort == "qvo" + stem)
        #expect(p.router.internalPort.name.hasPrefix("qr-"))
        #expect(p.router.gatewayPort.name.hasPrefix("qg-"))
        #expect(p.dhcp.interface.hasPrefix("ns-"))
        #expect(p.dhcp.bridgePort.hasPrefix("tap"))
        let names = p.instances.flatMap { [$0.tapDevice, $0.linuxBridge, $0.bridgeVeth, $0.ovsPort] }
            + [p.router.internalPort.name, p.router.gatewayPort.name, p.router.internalPort.bridgePort,
               p.router.gatewayPort.bridgePort, p.dhcp.interface, p.dhcp.bridgePort, p.computeNode.vxlanPort]
        for n in names { #expect(n.count <= 15, "\(n) is longer than IFNAMSIZ-1") }
        #expect(p.computeNode.vxlanPort == "vxlan-c6120002")
        #expect(p.networkNode.vxlanPort == "vxlan-c6120001")
    }

    @Test func securityGroupChainNamesFitIptables() throws {
        let p = try LabPlan(prefix: "hst", instances: 2)
        let vm = p.instances[0]
        #expect(vm.ingressChain == "neutron-openvswi-i" + vm.portID.prefix(10))
        #expect(vm.egressChain == "neutron-openvswi-o" + vm.portID.prefix(10))
        #expect(vm.spoofChain == "neutron-openvswi-s" + vm.portID.prefix(10))
        for chain in [vm.ingressChain, vm.egressChain, vm.spoofChain] { #expect(chain.count < 29) }
        #expect(p.network.securityGroupIPSet.hasPrefix("NIPv4"))
        #expect(p.network.securityGroupIPSet.count <= 31)
    }

    @Test func addressesComeFromTheDocumentedRanges() throws {
        let p = try LabPlan(prefix: "hst", instances: 3)
        #expect(p.instances.map(\.address.description) == ["10.0.0.11", "10.0.0.12", "10.0.0.13"])
        for vm in p.instances { #expect(p.network.cidr.contains(.v4(vm.address))) }
        #expect(p.network.cidr.contains(.v4(p.dhcp.address)))
        #expect(p.external.cidr.contains(.v4(p.router.floatingIP.address)))
        #expect(p.external.cidr.contains(p.router.gatewayPort.address.address))
        #expect(p.underlay.contains(.v4(p.computeNode.underlayAddress)))
        #expect(p.underlay.contains(.v4(p.networkNode.underlayAddress)))
        #expect(p.router.floatingIP.fixedAddress == p.instances[0].address)
        #expect(p.floatingIPInstance.name == "vm1")
        #expect(p.probeInstance.name == "vm3")
        #expect(p.network.mtu == 1450)
        // The internet side lies outside the external subnet, so reaching it needs the router's default route.
        #expect(!p.external.cidr.contains(.v4(p.external.dnsServer)))
        #expect(!p.external.cidr.contains(.v4(p.external.internetClient)))
    }

    @Test func tapInstancesAreDescribedInThePlan() throws {
        let p = try LabPlan(prefix: "hst", instances: 2)
        #expect(p.tapInstances.count == LabPlan.defaultTapInstanceCount)
        let vm = try #require(p.tapInstance(named: "tapvm1"))
        #expect(vm.address == IPv4Address(10, 0, 0, 31) && vm.namespace == "hst-compute1" && vm.hostName == "tapvm1")
        #expect(vm.tapDevice == "tap" + vm.portID.prefix(11) && vm.ovsPort == "qvo" + vm.portID.prefix(11))
        #expect(vm.mac.description.hasPrefix("fa:16:3e:") && vm.tapMAC.description == "fe" + vm.mac.description.dropFirst(2))
        #expect(vm.directory == "/run/hopscope/lab-hst/guests/tapvm1" && vm.statusFile.hasPrefix(vm.directory))
        #expect(p.instancePorts.map(\.name) == ["vm1", "vm2", "tapvm1"])
        #expect(p.instancePort(named: "tapvm1")?.portID == vm.portID)
        #expect(!p.namespaces.contains { $0.contains("tapvm") }, "a tap instance has no namespace of its own")
        let all = p.instancePorts.map(\.portID) + [p.dhcp.portID, p.router.internalPort.portID, p.router.gatewayPort.portID]
        #expect(Set(all.map(NeutronNames.stem)).count == all.count)
        #expect(Set(p.instancePorts.map(\.mac)).count == 3)

        // Tap instances are drawn last: the rest of the plan does not change with their number.
        var none = try LabPlan(prefix: "hst", instances: 2, tapInstances: 0)
        #expect(none.tapInstances.isEmpty)
        none.tapInstances = p.tapInstances
        #expect(none == p)
        let four = try LabPlan(prefix: "hst", instances: 2, tapInstances: 4)
        #expect(four.tapInstances.map(\.address.description) == ["10.0.0.31", "10.0.0.32", "10.0.0.33", "10.0.0.34"])
        #expect(throws: LabError.invalidTapInstanceCount(5)) { try LabPlan(prefix: "hst", tapInstances: 5) }
    }

    @Test func aPlanRecordedBeforeTapInstancesStillDecodes() throws {
        let p = try LabPlan(prefix: "hst", instances: 1, tapInstances: 0)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(p)) as? [String: Any])
        object.removeValue(forKey: "tapInstances")
        let old = try JSONDecoder().decode(LabPlan.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old == p)
    }

    @Test func badPrefixesAndCountsAreRejectedWithAdvice() {
        for bad in ["Hst", "1lab", "has space", "a_b", "lab-", String(repeating: "a", count: 17), "x/y"] {
            #expect(throws: LabError.invalidPrefix(bad)) { try LabPlan(prefix: bad) }
        }
        #expect(throws: LabError.invalidInstanceCount(0)) { try LabPlan(prefix: "hst", instances: 0) }
        #expect(throws: LabError.invalidInstanceCount(65)) { try LabPlan(prefix: "hst", instances: 65, tapInstances: 0) }
        #expect(throws: LabError.invalidInstanceCount(21)) { try LabPlan(prefix: "hst", instances: 21, tapInstances: 1) }
        #expect((try? LabPlan(prefix: "hst", instances: 64, tapInstances: 0)) != nil)
        #expect(LabError.invalidPrefix("X").description.contains("a-z"))
        #expect(LabError.notUp(prefix: "hst").description.contains("hopscope lab up --prefix hst"))
    }

    @Test func shortNamesResolveToNamespaces() throws {
        let p = try LabPlan(prefix: "hst", instances: 2)
        #expect(p.namespace(for: "vm2") == "hst-vm2")
        #expect(p.namespace(for: "compute1") == "hst-compute1")
        #expect(p.namespace(for: "qdhcp") == p.dhcp.namespace)
        #expect(p.namespace(for: "qrouter") == p.router.namespace)
        #expect(p.namespace(for: "external") == "hst-external")
        #expect(p.namespace(for: "hst-network1") == "hst-network1")
        #expect(p.namespace(for: "vm9") == nil)
    }

    @Test func planRoundTripsThroughJSON() throws {
        let p = try LabPlan(prefix: "hst", instances: 2)
        let data = try JSONEncoder().encode(p)
        #expect(try JSONDecoder().decode(LabPlan.self, from: data) == p)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let instances = try #require(object["instances"] as? [[String: Any]])
        #expect(instances[0]["mac"] as? String == p.instances[0].mac.description)
        #expect(instances[0]["address"] as? String == "10.0.0.11")
    }

    @Test func ovsCommandsPointAtTheNodesOwnRundir() throws {
        let p = try LabPlan(prefix: "hst", instances: 1)
        let ovs = p.computeNode.ovs
        #expect(ovs.environment["OVS_RUNDIR"] == "/run/hopscope/lab-hst/ovs-compute1")
        #expect(ovs.databaseSocket == "unix:/run/hopscope/lab-hst/ovs-compute1/db.sock")
        let argv = ovs.argv("ovs-vsctl", ["show"])
        #expect(argv.first == "env")
        #expect(argv.contains("OVS_RUNDIR=/run/hopscope/lab-hst/ovs-compute1"))
        #expect(Array(argv.suffix(2)) == ["ovs-vsctl", "show"])
    }
}

@Suite struct NeutronNamesTests {
    @Test func vxlanPortNamesAreTheRemoteAddressInHex() {
        #expect(NeutronNames.vxlanPort(remote: IPv4Address(192, 168, 1, 10)) == "vxlan-c0a8010a")
    }

    @Test func linkLocalAddressIsEUI64() {
        let mac = MACAddress("fa:16:3e:12:34:56")!
        #expect(NeutronNames.linkLocalIPv6(for: mac) == "fe80::f816:3eff:fe12:3456")
    }

    @Test func hostNamesAreDashedAddresses() {
        #expect(NeutronNames.hostName(for: IPv4Address(10, 0, 0, 11)) == "host-10-0-0-11")
    }

    @Test func deterministicIDsDependOnSeedAndLabel() {
        let a = DeterministicIDs(seed: "x"), b = DeterministicIDs(seed: "y")
        #expect(a.uuid("n") == a.uuid("n"))
        #expect(a.uuid("n") != a.uuid("m"))
        #expect(a.uuid("n") != b.uuid("n"))
        #expect(a.neutronMAC("p").value >> 24 == 0xFA163E)
    }
}

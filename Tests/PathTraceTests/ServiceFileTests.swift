import Foundation
import HopscopeModel
import Testing
import Topology

/// dnsmasq command lines and files, and libvirt domain XML, as the topology reads them.
@Suite struct ServiceFileTests {
    @Test func dnsmasqOptionsAndHostsLeasesAndOptions() {
        let d = DnsmasqSnapshot(pid: 42, namespace: "qdhcp-x", arguments: [
            "dnsmasq", "--no-hosts", "--interface=ns-1", "--dhcp-hostsfile", "/var/lib/neutron/dhcp/x/host",
            "--dhcp-range=set:subnet-a,10.0.0.0,static,255.255.255.0,86400s", "--dhcp-range=set:subnet-b,fd00::,static,64,86400s",
        ], files: [
            CollectedFile(option: "dhcp-hostsfile", path: "/var/lib/neutron/dhcp/x/host", content: """
                fa:16:3e:00:00:01,host-10-0-0-11.openstacklocal,10.0.0.11
                # a comment
                fa:16:3e:00:00:02,host-fd00--2.openstacklocal,[fd00::2]
                fa:16:3e:00:00:03,set:port-1,10.0.0.13,infinite

                """),
            CollectedFile(option: "dhcp-leasefile", path: "/var/lib/neutron/dhcp/x/leases",
                          content: "1700000000 fa:16:3e:00:00:01 10.0.0.11 host-10-0-0-11 01:fa:16:3e:00:00:01\n"),
            CollectedFile(option: "dhcp-optsfile", path: "/var/lib/neutron/dhcp/x/opts", content: "tag:subnet-a,option:router,10.0.0.1\n"),
        ])
        #expect(d.option("interface") == ["ns-1"])
        #expect(d.option("dhcp-hostsfile") == ["/var/lib/neutron/dhcp/x/host"], "the value may follow as its own argument")
        #expect(d.option("dhcp-range").count == 2)
        let server = DHCPServer(d, namespace: NamespaceID(snapshot: 0, label: "qdhcp-x"))
        #expect(server.hosts.count == 3)
        #expect(server.hosts[0].mac == MACAddress("fa:16:3e:00:00:01") && server.hosts[0].address == IPAddress("10.0.0.11")
                && server.hosts[0].name == "host-10-0-0-11.openstacklocal" && server.hosts[0].line == 1)
        #expect(server.hosts[1].address == IPAddress("fd00::2") && server.hosts[1].line == 3)
        #expect(server.hosts[2].address == IPAddress("10.0.0.13") && server.hosts[2].name == nil)
        #expect(server.leases.first?.mac == MACAddress("fa:16:3e:00:00:01") && server.leases.first?.name == "host-10-0-0-11")
        #expect(server.optionLines == ["tag:subnet-a,option:router,10.0.0.1"])
    }

    @Test func unreadableHostsFileIsAWarning() {
        let d = DnsmasqSnapshot(pid: 7, namespace: "n", arguments: ["dnsmasq", "--dhcp-hostsfile=/gone"],
                                files: [CollectedFile(option: "dhcp-hostsfile", path: "/gone", content: nil, error: "no such file")])
        let server = DHCPServer(d, namespace: NamespaceID(snapshot: 0, label: "n"))
        #expect(server.hosts.isEmpty && server.warnings == ["hosts file /gone could not be read: no such file"])
    }

    @Test func libvirtDomainTapMACAndPort() {
        let xml = """
            <domain type='kvm' id='3'>
              <name>instance-0000002a</name>
              <uuid>5c2f0e3e-1b9d-4a51-9a9b-6d2f3b9d1e10</uuid>
              <metadata><nova:instance><nova:name>web-1</nova:name></nova:instance></metadata>
              <devices>
                <interface type='bridge'>
                  <mac address='fa:16:3e:12:34:56'/>
                  <source bridge='qbr27bbe0bb-be'/>
                  <target dev='tap27bbe0bb-be'/>
                  <model type='virtio'/>
                </interface>
                <interface type='bridge'>
                  <mac address="fa:16:3e:ab:cd:ef"/>
                  <source bridge="br-int"/>
                  <virtualport type="openvswitch"><parameters interfaceid="811704cc-aa41-4c55-9f3c-000000000000"/></virtualport>
                  <target dev="tap811704cc-aa"/>
                </interface>
              </devices>
            </domain>
            """
        let d = LibvirtDomain(LibvirtDomainFile(path: "/etc/libvirt/qemu/instance-0000002a.xml", xml: xml))
        #expect(d.name == "instance-0000002a" && d.uuid == "5c2f0e3e-1b9d-4a51-9a9b-6d2f3b9d1e10")
        #expect(d.interfaces.count == 2)
        #expect(d.interfaces[0].mac == MACAddress("fa:16:3e:12:34:56") && d.interfaces[0].targetDevice == "tap27bbe0bb-be"
                && d.interfaces[0].sourceBridge == "qbr27bbe0bb-be" && d.interfaces[0].interfaceID == nil)
        #expect(d.interfaces[1].interfaceID == "811704cc-aa41-4c55-9f3c-000000000000" && d.interfaces[1].targetDevice == "tap811704cc-aa")
    }

    @Test func neutronNamesAreLabels() {
        #expect(NeutronLabels.port(ofDevice: "qvo27bbe0bb-be")?.portIDPrefix == "27bbe0bb-be")
        #expect(NeutronLabels.port(ofDevice: "qr-79c3f270-33")?.role == "router qr-")
        #expect(NeutronLabels.port(ofDevice: "tapnotaport") == nil)
        #expect(NeutronLabels.agentNamespace("lab-qrouter-bb1023e6-ae30-4735-a0e8-aedbc33902b4")?.kind == "qrouter")
        #expect(NeutronLabels.agentNamespace("qdhcp-27e887e5-8735-45c1-b952-bc810aa62c9b")?.id == "27e887e5-8735-45c1-b952-bc810aa62c9b")
        #expect(NeutronLabels.agentNamespace("myqrouter-bb1023e6-ae30-4735-a0e8-aedbc33902b4") == nil)
    }
}

import HopscopeModel

/// What the compute node holds for one instance, whatever kind the instance is: its Neutron
/// port and Nova server ids, the address dnsmasq gives it, and the hybrid plug (tap in a qbr,
/// qvb/qvo to br-int with the local VLAN, the security-group chains).
///
/// Both `LabInstance` (a namespace behind a veth) and `LabTapInstance` (a real tap device held
/// by a guest process) conform; the compute node's configuration is written once for all of them
/// (`LabPlan.instancePorts`).
public protocol LabInstancePort: Sendable {
    /// `vm1`, `tapvm1`, ...
    var name: String { get }
    /// The Nova server UUID (OVS `external_ids:vm-uuid`).
    var vmID: String { get }
    /// The Neutron port UUID (OVS `external_ids:iface-id`).
    var portID: String { get }
    /// The port's MAC: the guest's own address.
    var mac: MACAddress { get }
    /// The fixed IP of the port, which dnsmasq's hosts file hands out.
    var address: IPv4Address { get }
    /// `tap<11>` on the compute node, member of `linuxBridge`.
    var tapDevice: String { get }
    /// The tap device's own MAC (`fe:16:3e:..`, as Nova sets it).
    var tapMAC: MACAddress { get }
    var linuxBridge: String { get }
    var bridgeVeth: String { get }
    var ovsPort: String { get }
    var localVLAN: UInt16 { get }
    var ingressChain: String { get }
    var egressChain: String { get }
    var spoofChain: String { get }
}

extension LabInstance: LabInstancePort {}

/// An instance as a real compute node has it: a guest behind a tun/tap device, with nothing to
/// look into. The tap device lives in the compute node's namespace and is held open by a small
/// process of the lab's (`hopscope lab guest`, see `TapGuestRunner`) that behaves like the
/// guest's kernel and DHCP client: it gets `address` by DHCP through the real path, answers ARP
/// and ping, and pings on command.
///
/// Everything a diagnosis can know about it comes from the compute node: the tap and its qbr,
/// OVS `external_ids`, the DHCP hosts entry, the anti-spoofing rules and neighbour tables.
public struct LabTapInstance: Codable, Sendable, Equatable, LabInstancePort {
    /// `tapvm1`, `tapvm2`, ...
    public var name: String
    public var vmID: String
    public var portID: String
    public var mac: MACAddress
    /// The address the DHCP server will give the guest.
    public var address: IPv4Address
    /// The host name the guest sends in its DHCP messages.
    public var hostName: String
    /// The namespace holding the tap device and the guest process: the compute node's.
    public var namespace: String
    public var tapDevice: String
    public var tapMAC: MACAddress
    public var linuxBridge: String
    public var bridgeVeth: String
    public var ovsPort: String
    public var localVLAN: UInt16
    public var ingressChain: String
    public var egressChain: String
    public var spoofChain: String
    /// The guest's directory in the lab's state directory: `config.json`, `pid`, `status.json`
    /// (its lease and DHCP state), `requests/` and `responses/` (commands), `guest.log`.
    public var directory: String

    public var configurationFile: String { "\(directory)/config.json" }
    public var pidFile: String { "\(directory)/pid" }
    public var statusFile: String { "\(directory)/status.json" }
    public var requestDirectory: String { "\(directory)/requests" }
    public var responseDirectory: String { "\(directory)/responses" }
    public var logFile: String { "\(directory)/guest.log" }
}

import CMnl
import Netlink
import Testing

/// The Swift enums the pure decoders use must equal the kernel's numbers in <linux/*.h>.
@Suite struct KernelConstantsTests {
    @Test func messageTypesAndFlags() {
        #expect(MessageType.noop.rawValue == UInt16(n(NLMSG_NOOP)))
        #expect(MessageType.error.rawValue == UInt16(n(NLMSG_ERROR)))
        #expect(MessageType.done.rawValue == UInt16(n(NLMSG_DONE)))
        #expect(MessageType.overrun.rawValue == UInt16(n(NLMSG_OVERRUN)))
        #expect(MessageType.newLink.rawValue == UInt16(n(RTM_NEWLINK)))
        #expect(MessageType.getLink.rawValue == UInt16(n(RTM_GETLINK)))
        #expect(MessageType.newAddress.rawValue == UInt16(n(RTM_NEWADDR)))
        #expect(MessageType.getAddress.rawValue == UInt16(n(RTM_GETADDR)))
        #expect(MessageType.newRoute.rawValue == UInt16(n(RTM_NEWROUTE)))
        #expect(MessageType.getRoute.rawValue == UInt16(n(RTM_GETROUTE)))
        #expect(MessageType.newNeighbor.rawValue == UInt16(n(RTM_NEWNEIGH)))
        #expect(MessageType.getNeighbor.rawValue == UInt16(n(RTM_GETNEIGH)))
        #expect(MessageType.newRule.rawValue == UInt16(n(RTM_NEWRULE)))
        #expect(MessageType.getRule.rawValue == UInt16(n(RTM_GETRULE)))
        #expect(MessageType.newNamespaceID.rawValue == UInt16(n(RTM_NEWNSID)))
        #expect(MessageType.getNamespaceID.rawValue == UInt16(n(RTM_GETNSID)))
        #expect(MessageFlags.request.rawValue == UInt16(n(NLM_F_REQUEST)))
        #expect(MessageFlags.multipart.rawValue == UInt16(n(NLM_F_MULTI)))
        #expect(MessageFlags.ack.rawValue == UInt16(n(NLM_F_ACK)))
        #expect(MessageFlags.dumpInterrupted.rawValue == UInt16(n(NLM_F_DUMP_INTR)))
        #expect(MessageFlags.dump.rawValue == UInt16(n(NLM_F_DUMP)))
        #expect(MessageFlags.capped.rawValue == UInt16(n(NLM_F_CAPPED)))
        #expect(MessageFlags.ackTLVs.rawValue == UInt16(n(NLM_F_ACK_TLVS)))
        #expect(ExtendedAckAttribute.message.rawValue == UInt16(n(NLMSGERR_ATTR_MSG)))
        #expect(ExtendedAckAttribute.offset.rawValue == UInt16(n(NLMSGERR_ATTR_OFFS)))
        #expect(Int(NetlinkSocketOption.extendedAck.rawValue) == n(NETLINK_EXT_ACK))
        #expect(Int(NetlinkSocketOption.getStrictCheck.rawValue) == n(NETLINK_GET_STRICT_CHK))
        #expect(Int(NetlinkSocketOption.level) == n(SOL_NETLINK))
        #expect(AddressFamily.inet.rawValue == UInt8(n(AF_INET)))
        #expect(AddressFamily.inet6.rawValue == UInt8(n(AF_INET6)))
        #expect(AddressFamily.bridge.rawValue == UInt8(n(AF_BRIDGE)))
    }

    @Test func linkAttributes() {
        let pairs: [(LinkAttribute, Int)] = [
            (.address, n(IFLA_ADDRESS)), (.broadcast, n(IFLA_BROADCAST)), (.ifname, n(IFLA_IFNAME)),
            (.mtu, n(IFLA_MTU)), (.link, n(IFLA_LINK)), (.qdisc, n(IFLA_QDISC)),
            (.stats, n(IFLA_STATS)), (.master, n(IFLA_MASTER)), (.protinfo, n(IFLA_PROTINFO)),
            (.txQueueLength, n(IFLA_TXQLEN)), (.operState, n(IFLA_OPERSTATE)), (.linkMode, n(IFLA_LINKMODE)),
            (.linkInfo, n(IFLA_LINKINFO)), (.ifAlias, n(IFLA_IFALIAS)), (.stats64, n(IFLA_STATS64)),
            (.afSpec, n(IFLA_AF_SPEC)), (.group, n(IFLA_GROUP)), (.extMask, n(IFLA_EXT_MASK)),
            (.promiscuity, n(IFLA_PROMISCUITY)), (.carrier, n(IFLA_CARRIER)),
            (.linkNetnsID, n(IFLA_LINK_NETNSID)), (.altIfname, n(IFLA_ALT_IFNAME)),
            (.permAddress, n(IFLA_PERM_ADDRESS)),
        ]
        for (swift, c) in pairs { #expect(Int(swift.rawValue) == c, "\(swift)") }
        #expect(Int(LinkInfoAttribute.kind.rawValue) == n(IFLA_INFO_KIND))
        #expect(Int(LinkInfoAttribute.data.rawValue) == n(IFLA_INFO_DATA))
        #expect(Int(LinkInfoAttribute.xstats.rawValue) == n(IFLA_INFO_XSTATS))
        #expect(Int(LinkInfoAttribute.slaveKind.rawValue) == n(IFLA_INFO_SLAVE_KIND))
        #expect(Int(LinkInfoAttribute.slaveData.rawValue) == n(IFLA_INFO_SLAVE_DATA))
        #expect(Int(InetAttribute.conf.rawValue) == n(IFLA_INET_CONF))
    }

    @Test func kindSpecificAttributes() {
        let vxlan: [(VXLANAttribute, Int)] = [
            (.id, n(IFLA_VXLAN_ID)), (.group, n(IFLA_VXLAN_GROUP)), (.link, n(IFLA_VXLAN_LINK)),
            (.local, n(IFLA_VXLAN_LOCAL)), (.ttl, n(IFLA_VXLAN_TTL)), (.learning, n(IFLA_VXLAN_LEARNING)),
            (.port, n(IFLA_VXLAN_PORT)), (.group6, n(IFLA_VXLAN_GROUP6)), (.local6, n(IFLA_VXLAN_LOCAL6)),
            (.collectMetadata, n(IFLA_VXLAN_COLLECT_METADATA)),
        ]
        for (s, c) in vxlan { #expect(Int(s.rawValue) == c, "\(s)") }
        let geneve: [(GeneveAttribute, Int)] = [
            (.id, n(IFLA_GENEVE_ID)), (.remote, n(IFLA_GENEVE_REMOTE)), (.ttl, n(IFLA_GENEVE_TTL)),
            (.port, n(IFLA_GENEVE_PORT)), (.collectMetadata, n(IFLA_GENEVE_COLLECT_METADATA)),
            (.remote6, n(IFLA_GENEVE_REMOTE6)),
        ]
        for (s, c) in geneve { #expect(Int(s.rawValue) == c, "\(s)") }
        let gre: [(GREAttribute, Int)] = [
            (.link, n(IFLA_GRE_LINK)), (.inputFlags, n(IFLA_GRE_IFLAGS)), (.outputFlags, n(IFLA_GRE_OFLAGS)),
            (.inputKey, n(IFLA_GRE_IKEY)), (.outputKey, n(IFLA_GRE_OKEY)), (.local, n(IFLA_GRE_LOCAL)),
            (.remote, n(IFLA_GRE_REMOTE)), (.ttl, n(IFLA_GRE_TTL)), (.collectMetadata, n(IFLA_GRE_COLLECT_METADATA)),
        ]
        for (s, c) in gre { #expect(Int(s.rawValue) == c, "\(s)") }
        let iptun: [(IPTunnelAttribute, Int)] = [
            (.link, n(IFLA_IPTUN_LINK)), (.local, n(IFLA_IPTUN_LOCAL)), (.remote, n(IFLA_IPTUN_REMOTE)),
            (.ttl, n(IFLA_IPTUN_TTL)), (.collectMetadata, n(IFLA_IPTUN_COLLECT_METADATA)),
        ]
        for (s, c) in iptun { #expect(Int(s.rawValue) == c, "\(s)") }
        let bridge: [(BridgeAttribute, Int)] = [
            (.forwardDelay, n(IFLA_BR_FORWARD_DELAY)), (.helloTime, n(IFLA_BR_HELLO_TIME)),
            (.maxAge, n(IFLA_BR_MAX_AGE)), (.ageingTime, n(IFLA_BR_AGEING_TIME)),
            (.stpState, n(IFLA_BR_STP_STATE)), (.priority, n(IFLA_BR_PRIORITY)),
            (.vlanFiltering, n(IFLA_BR_VLAN_FILTERING)),
        ]
        for (s, c) in bridge { #expect(Int(s.rawValue) == c, "\(s)") }
        let port: [(BridgePortAttribute, Int)] = [
            (.state, n(IFLA_BRPORT_STATE)), (.priority, n(IFLA_BRPORT_PRIORITY)), (.cost, n(IFLA_BRPORT_COST)),
            (.mode, n(IFLA_BRPORT_MODE)), (.learning, n(IFLA_BRPORT_LEARNING)),
            (.unicastFlood, n(IFLA_BRPORT_UNICAST_FLOOD)), (.proxyARP, n(IFLA_BRPORT_PROXYARP)),
            (.portNumber, n(IFLA_BRPORT_NO)), (.multicastFlood, n(IFLA_BRPORT_MCAST_FLOOD)),
            (.broadcastFlood, n(IFLA_BRPORT_BCAST_FLOOD)), (.neighborSuppress, n(IFLA_BRPORT_NEIGH_SUPPRESS)),
            (.isolated, n(IFLA_BRPORT_ISOLATED)),
        ]
        for (s, c) in port { #expect(Int(s.rawValue) == c, "\(s)") }
        #expect(Int(VLANAttribute.id.rawValue) == n(IFLA_VLAN_ID))
        #expect(Int(VLANAttribute.flags.rawValue) == n(IFLA_VLAN_FLAGS))
        #expect(Int(VLANAttribute.tagProtocol.rawValue) == n(IFLA_VLAN_PROTOCOL))
        #expect(Int(MACVLANAttribute.mode.rawValue) == n(IFLA_MACVLAN_MODE))
        #expect(Int(BondAttribute.mode.rawValue) == n(IFLA_BOND_MODE))
        #expect(Int(BondAttribute.activePort.rawValue) == n(IFLA_BOND_ACTIVE_SLAVE))
        #expect(Int(BondAttribute.miimon.rawValue) == n(IFLA_BOND_MIIMON))
        #expect(Int(TunAttribute.owner.rawValue) == n(IFLA_TUN_OWNER))
        #expect(Int(TunAttribute.group.rawValue) == n(IFLA_TUN_GROUP))
        #expect(Int(TunAttribute.type.rawValue) == n(IFLA_TUN_TYPE))
        #expect(Int(TunAttribute.persist.rawValue) == n(IFLA_TUN_PERSIST))
        #expect(Int(TunAttribute.multiQueue.rawValue) == n(IFLA_TUN_MULTI_QUEUE))
    }

    @Test func addressRouteNeighbourRuleAndNamespaceIDAttributes() {
        let addr: [(AddressAttribute, Int)] = [
            (.address, n(IFA_ADDRESS)), (.local, n(IFA_LOCAL)), (.label, n(IFA_LABEL)),
            (.broadcast, n(IFA_BROADCAST)), (.anycast, n(IFA_ANYCAST)), (.cacheInfo, n(IFA_CACHEINFO)),
            (.multicast, n(IFA_MULTICAST)), (.flags, n(IFA_FLAGS)), (.routePriority, n(IFA_RT_PRIORITY)),
            (.targetNetnsID, n(IFA_TARGET_NETNSID)), (.addressProtocol, n(IFA_PROTO)),
        ]
        for (s, c) in addr { #expect(Int(s.rawValue) == c, "\(s)") }
        let route: [(RouteAttribute, Int)] = [
            (.destination, n(RTA_DST)), (.source, n(RTA_SRC)), (.inputInterface, n(RTA_IIF)),
            (.outputInterface, n(RTA_OIF)), (.gateway, n(RTA_GATEWAY)), (.priority, n(RTA_PRIORITY)),
            (.preferredSource, n(RTA_PREFSRC)), (.metrics, n(RTA_METRICS)), (.multipath, n(RTA_MULTIPATH)),
            (.flow, n(RTA_FLOW)), (.cacheInfo, n(RTA_CACHEINFO)), (.table, n(RTA_TABLE)),
            (.mark, n(RTA_MARK)), (.via, n(RTA_VIA)), (.preference, n(RTA_PREF)),
            (.encapType, n(RTA_ENCAP_TYPE)), (.encap, n(RTA_ENCAP)), (.expires, n(RTA_EXPIRES)),
            (.nexthopID, n(RTA_NH_ID)),
        ]
        for (s, c) in route { #expect(Int(s.rawValue) == c, "\(s)") }
        #expect(Int(RouteMetricAttribute.mtu.rawValue) == n(RTAX_MTU))
        #expect(Int(RouteMetricAttribute.lock.rawValue) == n(RTAX_LOCK))
        let neigh: [(NeighborAttribute, Int)] = [
            (.destination, n(NDA_DST)), (.linkLayerAddress, n(NDA_LLADDR)), (.cacheInfo, n(NDA_CACHEINFO)),
            (.probes, n(NDA_PROBES)), (.vlan, n(NDA_VLAN)), (.port, n(NDA_PORT)), (.vni, n(NDA_VNI)),
            (.interfaceIndex, n(NDA_IFINDEX)), (.master, n(NDA_MASTER)), (.linkNetnsID, n(NDA_LINK_NETNSID)),
            (.sourceVNI, n(NDA_SRC_VNI)), (.neighborProtocol, n(NDA_PROTOCOL)), (.flagsExtended, n(NDA_FLAGS_EXT)),
        ]
        for (s, c) in neigh { #expect(Int(s.rawValue) == c, "\(s)") }
        #expect(Int(NeighborFlags.`self`.rawValue) == n(NTF_SELF))
        #expect(Int(NeighborFlags.master.rawValue) == n(NTF_MASTER))
        #expect(Int(NeighborFlags.proxy.rawValue) == n(NTF_PROXY))
        #expect(Int(NeighborFlags.externLearned.rawValue) == n(NTF_EXT_LEARNED))
        #expect(Int(NeighborFlags.offloaded.rawValue) == n(NTF_OFFLOADED))
        #expect(Int(NeighborFlags.sticky.rawValue) == n(NTF_STICKY))
        #expect(Int(NeighborFlags.router.rawValue) == n(NTF_ROUTER))
        let rule: [(RuleAttribute, Int)] = [
            (.destination, n(FRA_DST)), (.source, n(FRA_SRC)), (.inputInterfaceName, n(FRA_IIFNAME)), (.goto, n(FRA_GOTO)),
            (.priority, n(FRA_PRIORITY)), (.fwmark, n(FRA_FWMARK)), (.flow, n(FRA_FLOW)), (.tunnelID, n(FRA_TUN_ID)),
            (.suppressInterfaceGroup, n(FRA_SUPPRESS_IFGROUP)), (.suppressPrefixLength, n(FRA_SUPPRESS_PREFIXLEN)),
            (.table, n(FRA_TABLE)), (.fwmask, n(FRA_FWMASK)), (.outputInterfaceName, n(FRA_OIFNAME)), (.l3mdev, n(FRA_L3MDEV)),
            (.uidRange, n(FRA_UID_RANGE)), (.ruleProtocol, n(FRA_PROTOCOL)), (.ipProtocol, n(FRA_IP_PROTO)),
            (.sourcePortRange, n(FRA_SPORT_RANGE)), (.destinationPortRange, n(FRA_DPORT_RANGE)),
        ]
        for (s, c) in rule { #expect(Int(s.rawValue) == c, "\(s)") }
        let actions: [(RuleActionCode, Int)] = [
            (.unspecified, n(FR_ACT_UNSPEC)), (.toTable, n(FR_ACT_TO_TBL)), (.goto, n(FR_ACT_GOTO)), (.nop, n(FR_ACT_NOP)),
            (.blackhole, n(FR_ACT_BLACKHOLE)), (.unreachable, n(FR_ACT_UNREACHABLE)), (.prohibit, n(FR_ACT_PROHIBIT)),
        ]
        for (s, c) in actions { #expect(Int(s.rawValue) == c, "\(s)") }
        #expect(Int(NamespaceIDAttribute.nsid.rawValue) == n(NETNSA_NSID))
        #expect(Int(NamespaceIDAttribute.pid.rawValue) == n(NETNSA_PID))
        #expect(Int(NamespaceIDAttribute.fd.rawValue) == n(NETNSA_FD))
        #expect(Int(NamespaceIDAttribute.targetNSID.rawValue) == n(NETNSA_TARGET_NSID))
        #expect(Int(NamespaceIDAttribute.currentNSID.rawValue) == n(NETNSA_CURRENT_NSID))
        #expect(namespaceIDNotAssigned == Int32(n(NETNSA_NSID_NOT_ASSIGNED)))
    }

    @Test func statesFlagsAndSizes() {
        #expect(Int(OperationalStateCode.up.rawValue) == n(IF_OPER_UP))
        #expect(Int(OperationalStateCode.down.rawValue) == n(IF_OPER_DOWN))
        #expect(Int(OperationalStateCode.lowerLayerDown.rawValue) == n(IF_OPER_LOWERLAYERDOWN))
        #expect(Int(OperationalStateCode.dormant.rawValue) == n(IF_OPER_DORMANT))
        #expect(Int(OperationalStateCode.notPresent.rawValue) == n(IF_OPER_NOTPRESENT))
        #expect(Int(OperationalStateCode.testing.rawValue) == n(IF_OPER_TESTING))
        #expect(Int(BridgePortStateCode.disabled.rawValue) == n(BR_STATE_DISABLED))
        #expect(Int(BridgePortStateCode.listening.rawValue) == n(BR_STATE_LISTENING))
        #expect(Int(BridgePortStateCode.learning.rawValue) == n(BR_STATE_LEARNING))
        #expect(Int(BridgePortStateCode.forwarding.rawValue) == n(BR_STATE_FORWARDING))
        #expect(Int(BridgePortStateCode.blocking.rawValue) == n(BR_STATE_BLOCKING))
        let addressFlags: [(AddressFlag, Int)] = [
            (.secondary, n(IFA_F_SECONDARY)), (.noDAD, n(IFA_F_NODAD)), (.optimistic, n(IFA_F_OPTIMISTIC)),
            (.dadFailed, n(IFA_F_DADFAILED)), (.homeAddress, n(IFA_F_HOMEADDRESS)), (.deprecated, n(IFA_F_DEPRECATED)),
            (.tentative, n(IFA_F_TENTATIVE)), (.permanent, n(IFA_F_PERMANENT)), (.manageTemporaryAddress, n(IFA_F_MANAGETEMPADDR)),
            (.noPrefixRoute, n(IFA_F_NOPREFIXROUTE)), (.multicastAutoJoin, n(IFA_F_MCAUTOJOIN)), (.stablePrivacy, n(IFA_F_STABLE_PRIVACY)),
        ]
        for (s, c) in addressFlags { #expect(Int(s.rawValue) == c, "\(s)") }
        let routeFlags: [(RouteFlag, Int)] = [
            (.dead, n(RTNH_F_DEAD)), (.pervasive, n(RTNH_F_PERVASIVE)), (.onlink, n(RTNH_F_ONLINK)),
            (.offload, n(RTNH_F_OFFLOAD)), (.linkdown, n(RTNH_F_LINKDOWN)), (.unresolved, n(RTNH_F_UNRESOLVED)), (.trap, n(RTNH_F_TRAP)),
        ]
        for (s, c) in routeFlags { #expect(Int(s.rawValue) == c, "\(s)") }
        #expect(Int(RouteTableCode.main.rawValue) == n(RT_TABLE_MAIN))
        #expect(Int(RouteTableCode.local.rawValue) == n(RT_TABLE_LOCAL))
        #expect(Int(RouteTableCode.defaultTable.rawValue) == n(RT_TABLE_DEFAULT))
        #expect(Int(RouteTableCode.compat.rawValue) == n(RT_TABLE_COMPAT))
        #expect(Int(ExtendedFilter.virtualFunctions.rawValue) == n(RTEXT_FILTER_VF))
        #expect(Int(ExtendedFilter.skipStats.rawValue) == n(RTEXT_FILTER_SKIP_STATS))
        #expect(FamilyHeaderSize.ifinfomsg == MemoryLayout<ifinfomsg>.size)
        #expect(FamilyHeaderSize.ifaddrmsg == MemoryLayout<ifaddrmsg>.size)
        #expect(FamilyHeaderSize.rtmsg == MemoryLayout<rtmsg>.size)
        #expect(FamilyHeaderSize.ndmsg == MemoryLayout<ndmsg>.size)
        #expect(FamilyHeaderSize.fibRuleHeader == MemoryLayout<fib_rule_hdr>.size)
        #expect(FamilyHeaderSize.nlmsghdr == MemoryLayout<nlmsghdr>.size)
        #expect(FamilyHeaderSize.rtnexthop == MemoryLayout<rtnexthop>.size)
        #expect(FamilyHeaderSize.linkStats64Minimum <= MemoryLayout<rtnl_link_stats64>.size)
        for (model, c) in InterfaceFlagsCheck.pairs { #expect(model == c) }
    }
}

/// C constants import as plain integers (macros, anonymous enums) or as named enum types.
func n<T: BinaryInteger>(_ v: T) -> Int { Int(v) }
func n<T: RawRepresentable>(_ v: T) -> Int where T.RawValue: BinaryInteger { Int(v.rawValue) }

/// IFF_* are in <net/if.h> (glibc) as an enum; compare the model's flag bits to them.
enum InterfaceFlagsCheck {
    static let pairs: [(UInt32, UInt32)] = [
        (0x1, UInt32(n(IFF_UP))), (0x2, UInt32(n(IFF_BROADCAST))), (0x8, UInt32(n(IFF_LOOPBACK))),
        (0x40, UInt32(n(IFF_RUNNING))), (0x80, UInt32(n(IFF_NOARP))), (0x100, UInt32(n(IFF_PROMISC))),
        (0x400, UInt32(n(IFF_MASTER))), (0x800, UInt32(n(IFF_SLAVE))), (0x1000, UInt32(n(IFF_MULTICAST))),
    ]
}

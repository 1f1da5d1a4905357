import Foundation
import HopscopeModel

/// Reads the sysctls that decide forwarding from /proc/sys, for the network namespace of the
/// calling thread: /proc/sys/net is resolved against the opening thread's namespace, so call it
/// inside `inNetworkNamespace` (a privileged test checks this against `ip netns exec sysctl`).
///
/// Per-interface rp_filter and proxy_arp come cheaper from the link dump (`IFLA_INET_CONF`);
/// `interfaces` adds them from /proc/sys for the names given (used where no dump is at hand).
/// Missing files (no br_netfilter, no nf_conntrack) leave the value nil.
public enum ForwardingSysctlReader {
    public static func read(interfaces: [String] = [], root: String = "/proc/sys/net") -> ForwardingSysctls {
        var s = ForwardingSysctls()
        s.ipv4Forwarding = flag("\(root)/ipv4/ip_forward")
        s.ipv6Forwarding = flag("\(root)/ipv6/conf/all/forwarding")
        s.rpFilterAll = integer("\(root)/ipv4/conf/all/rp_filter")
        s.rpFilterDefault = integer("\(root)/ipv4/conf/default/rp_filter")
        s.proxyARPAll = flag("\(root)/ipv4/conf/all/proxy_arp")
        s.bridgeNFCallIptables = flag("\(root)/bridge/bridge-nf-call-iptables")
        s.bridgeNFCallIp6tables = flag("\(root)/bridge/bridge-nf-call-ip6tables")
        s.conntrackCount = integer("\(root)/netfilter/nf_conntrack_count")
        s.conntrackMax = integer("\(root)/netfilter/nf_conntrack_max")
        for name in interfaces {
            if let v = integer("\(root)/ipv4/conf/\(name)/rp_filter") { s.rpFilter[name] = v }
            if let v = flag("\(root)/ipv4/conf/\(name)/proxy_arp") { s.proxyARP[name] = v }
        }
        return s
    }

    /// One integer sysctl, read with a single read(2) (no Foundation file machinery: these are
    /// read for every namespace).
    public static func integer(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int(text.split(separator: "\t").first ?? "")
    }

    static func flag(_ path: String) -> Bool? { integer(path).map { $0 != 0 } }
}

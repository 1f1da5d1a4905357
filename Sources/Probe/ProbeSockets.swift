import Foundation
import HopscopeModel
import Namespaces
import Packets

/// The sending side of active probes: plain sockets created inside a network namespace on a
/// thread that entered it (the thread rule, through `withNetworkNamespace`), used and closed
/// there. Every wait is bounded by a deadline, so a probe never blocks longer than asked.
enum ProbeSockets {
    /// Milliseconds left until `deadline` (0 when it passed).
    static func millisecondsLeft(_ deadline: DispatchTime) -> Int32 {
        let now = DispatchTime.now().uptimeNanoseconds
        return deadline.uptimeNanoseconds > now ? Int32(min(Int64.max, Int64((deadline.uptimeNanoseconds - now) / 1_000_000) + 1)) : 0
    }

    static func deadline(_ d: Duration) -> DispatchTime {
        let (s, atto) = d.components
        return .now() + .nanoseconds(Int(s) * 1_000_000_000 + Int(atto / 1_000_000_000))
    }

    /// Waits until `fd` is readable or the deadline passes. Wraps `poll`.
    static func waitReadable(_ fd: Int32, until deadline: DispatchTime) -> Bool {
        while true {
            let left = millisecondsLeft(deadline)
            if left == 0 { return false }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, left)
            if r > 0 { return true }
            if r == 0 { return false }
            if errno != EINTR { return false }
        }
    }

    static func socketAddress(_ address: IPv4Address, port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = address.value.bigEndian
        return addr
    }

    // MARK: ICMP echo

    /// Sends `count` ICMP echo requests (identifier `identifier`, sequences 1...count, `data` as
    /// payload, `interval` apart) from namespace `ns` to `destination` on a raw ICMP socket and
    /// returns the sequences answered by an echo reply with the same identifier and data within
    /// `timeout` after the last one. Throws `SystemCallError` when the socket cannot be made.
    static func ping(in ns: NamespaceRef, to destination: IPv4Address, identifier: UInt16, count: Int, data: [UInt8],
                     interval: Duration = .milliseconds(200), timeout: Duration) async throws -> Set<UInt16> {
        try await withNetworkNamespace(ns) {
            let fd = try systemCall("socket(AF_INET, SOCK_RAW, ICMP)", context: "netns \(ns)") {
                socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMP))
            }
            defer { close(fd) }
            var remote = socketAddress(destination, port: 0)
            var answered = Set<UInt16>()
            var buffer = [UInt8](repeating: 0, count: 2048)
            func collect(until deadline: DispatchTime) {
                while answered.count < count, waitReadable(fd, until: deadline) {
                    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    guard n > 20 else { continue }
                    let ihl = Int(buffer[0] & 0x0F) * 4
                    guard n >= ihl + 8, buffer[ihl] == 0 else { continue }
                    let id = UInt16(buffer[ihl + 4]) << 8 | UInt16(buffer[ihl + 5])
                    let seq = UInt16(buffer[ihl + 6]) << 8 | UInt16(buffer[ihl + 7])
                    guard id == identifier, Array(buffer[(ihl + 8)..<n]) == data else { continue }
                    answered.insert(seq)
                }
            }
            for seq in 1...UInt16(max(1, count)) {
                let icmp = ICMPHeader.echoRequest(identifier: identifier, sequence: seq, data: data)
                _ = try systemCall("sendto \(destination)", context: "netns \(ns)") {
                    icmp.withUnsafeBytes { b in
                        withUnsafePointer(to: &remote) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                            }
                        }
                    }
                }
                if Int(seq) < count { collect(until: deadline(interval)) }
            }
            collect(until: deadline(timeout))
            return answered
        }
    }

    // MARK: UDP

    /// What a UDP exchange got back.
    enum UDPAnswer: Sendable {
        case reply([UInt8])
        /// The destination said port unreachable (ICMP), seen as ECONNREFUSED on the socket.
        case refused
        case noReply
    }

    /// Sends `payload` from namespace `ns` (from `sourcePort`, 0 for any) to
    /// `destination:port` on a connected UDP socket and waits at most `timeout` for one datagram
    /// back. Throws `SystemCallError` when the socket cannot be made or bound.
    static func udpExchange(in ns: NamespaceRef, to destination: IPv4Address, port: UInt16, sourcePort: UInt16,
                            payload: [UInt8], timeout: Duration) async throws -> (answer: UDPAnswer, localPort: UInt16) {
        try await withNetworkNamespace(ns) {
            let fd = try systemCall("socket(AF_INET, SOCK_DGRAM)", context: "netns \(ns)") {
                socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
            defer { close(fd) }
            var local = socketAddress(.any, port: sourcePort)
            try systemCall("bind udp port \(sourcePort)", context: "netns \(ns)") {
                withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
            var remote = socketAddress(destination, port: port)
            try systemCall("connect \(destination):\(port)", context: "netns \(ns)") {
                withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
            var bound = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            let localPort = UInt16(bigEndian: bound.sin_port)
            _ = try systemCall("send to \(destination):\(port)", context: "netns \(ns)") {
                payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            }
            let end = deadline(timeout)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while waitReadable(fd, until: end) {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n >= 0 { return (.reply(Array(buffer[0..<n])), localPort) }
                if errno == ECONNREFUSED { return (.refused, localPort) }
            }
            return (.noReply, localPort)
        }
    }

    // MARK: TCP

    /// Tries a TCP handshake from namespace `ns` (from `sourcePort`) to `destination:port`,
    /// waiting at most `timeout`. Returns `connected`, `refused (RST)`, `timed out` or the error.
    static func tcpConnect(in ns: NamespaceRef, to destination: IPv4Address, port: UInt16, sourcePort: UInt16,
                           timeout: Duration) async throws -> String {
        try await withNetworkNamespace(ns) {
            let fd = try systemCall("socket(AF_INET, SOCK_STREAM)", context: "netns \(ns)") {
                socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
            defer { close(fd) }
            var local = socketAddress(.any, port: sourcePort)
            try systemCall("bind tcp port \(sourcePort)", context: "netns \(ns)") {
                withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
            var remote = socketAddress(destination, port: port)
            let rc = withUnsafePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            var code = rc == 0 ? 0 : errno
            if rc != 0 && code == EINPROGRESS {
                let end = deadline(timeout)
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var ready: Int32
                repeat { ready = poll(&pfd, 1, millisecondsLeft(end)) } while ready < 0 && errno == EINTR
                if ready == 0 { return "timed out" }
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
            }
            switch code {
            case 0: return "connected"
            case ECONNREFUSED: return "refused (RST)"
            case ETIMEDOUT: return "timed out"
            default: return String(cString: strerror(code))
            }
        }
    }

    // MARK: Link layer

    /// ETH_P_ALL and PACKET_OUTGOING from <linux/if_ether.h> and <linux/if_packet.h>, which Glibc does not import.
    static let ethernetProtocolAll: UInt16 = 0x0003
    static let packetOutgoing: UInt8 = 4

    /// A `struct sockaddr_ll` as bytes (family, protocol in network order, ifindex, hatype,
    /// pkttype, halen, addr[8]); the struct is not imported into Swift.
    static func linkAddress(interfaceIndex: UInt32, destination: ArraySlice<UInt8> = []) -> [UInt8] {
        var sll = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { for (i, b) in $0.enumerated() { sll[i] = b } }
        withUnsafeBytes(of: ethernetProtocolAll.bigEndian) { for (i, b) in $0.enumerated() { sll[2 + i] = b } }
        withUnsafeBytes(of: Int32(bitPattern: interfaceIndex)) { for (i, b) in $0.enumerated() { sll[4 + i] = b } }
        if destination.count == 6 {
            sll[11] = 6
            for (i, b) in destination.enumerated() { sll[12 + i] = b }
        }
        return sll
    }

    /// A raw AF_PACKET socket bound to one interface, for ARP and DHCP, which need frames of
    /// their own. Lives only inside the body of `withPacketSocket` (on the namespace's thread).
    struct PacketSocket {
        let fd: Int32
        let interface: String
        let interfaceIndex: UInt32
        let namespace: NamespaceRef

        /// Sends one whole Ethernet frame out of the interface.
        func send(_ frame: [UInt8]) throws {
            let sll = ProbeSockets.linkAddress(interfaceIndex: interfaceIndex, destination: frame.prefix(6))
            _ = try systemCall("sendto \(interface)", context: "netns \(namespace)") {
                frame.withUnsafeBytes { f in
                    sll.withUnsafeBytes { a in
                        sendto(fd, f.baseAddress, f.count, 0, a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(sll.count))
                    }
                }
            }
        }

        /// Receives frames until `accept` returns a value or the deadline passes (nil then).
        /// Frames this socket's interface sent (PACKET_OUTGOING) are skipped.
        func receive<T>(until deadline: DispatchTime, _ accept: ([UInt8]) -> T?) -> T? {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var from = [UInt8](repeating: 0, count: 20)
            while waitReadable(fd, until: deadline) {
                var length = socklen_t(from.count)
                let n = buffer.withUnsafeMutableBytes { b in
                    from.withUnsafeMutableBytes { a in
                        recvfrom(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT), a.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
                    }
                }
                guard n > 0, from[10] != ProbeSockets.packetOutgoing else { continue }
                if let v = accept(Array(buffer[0..<n])) { return v }
            }
            return nil
        }
    }

    /// Runs `body` with a packet socket on `interface` inside namespace `ns`. Throws
    /// `SystemCallError` when the interface is missing or the socket cannot be made.
    static func withPacketSocket<T: Sendable>(in ns: NamespaceRef, interface: String,
                                              _ body: @escaping @Sendable (PacketSocket) throws -> T) async throws -> T {
        try await withNetworkNamespace(ns) {
            let index = if_nametoindex(interface)
            guard index != 0 else { throw SystemCallError(operation: "if_nametoindex \(interface)", errno: errno, context: "netns \(ns)") }
            let fd = try systemCall("socket(AF_PACKET)", context: "netns \(ns)") {
                socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(ethernetProtocolAll.bigEndian))
            }
            defer { close(fd) }
            let sll = linkAddress(interfaceIndex: index)
            try systemCall("bind \(interface)", context: "netns \(ns)") {
                sll.withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(sll.count)) }
            }
            return try body(PacketSocket(fd: fd, interface: interface, interfaceIndex: index, namespace: ns))
        }
    }
}

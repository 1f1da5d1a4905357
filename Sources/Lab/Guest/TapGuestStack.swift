import HopscopeModel
import Packets

/// The network stack of the lab's tap guest: what a cloud image's kernel and DHCP client do on
/// the wire, as a pure state machine over Ethernet frames.
///
/// - DHCP client (RFC 2131): DISCOVER, REQUEST, bound with T1/T2 timers, unicast renewal,
///   broadcast rebinding, expiry; honours the offered address, mask, router, DNS, domain, MTU and
///   lease times; a NAK sends it back to INIT. Booting retries forever with a capped back-off.
/// - ARP: answers requests for its address, resolves next hops (retrying, then giving up), and
///   learns neighbours from ARP it sees.
/// - ICMP: answers echo requests to its address; sends bounded echo requests on command.
///
/// Feed it frames (`receive`), the passing of time (`tick`) and commands (`perform`); it returns
/// the frames to send and collects finished command results in `finished`. Time is monotonic
/// seconds from any origin. A value type with no I/O: the runner owns it on one thread, and the
/// unit tests drive it frame by frame.
public struct TapGuestStack: Sendable {
    /// Who the guest is on the wire.
    public struct Identity: Codable, Sendable, Equatable {
        public var mac: MACAddress
        public var hostName: String
        public init(mac: MACAddress, hostName: String) {
            self.mac = mac
            self.hostName = hostName
        }
    }

    /// The DHCP client's state (RFC 2131 figure 5).
    public enum DHCPState: String, Codable, Sendable {
        case initial = "init", selecting, requesting, bound, renewing, rebinding
    }

    /// A command from the lab (see `TapGuestControl`).
    public enum Command: Codable, Sendable, Equatable {
        /// `count` echo requests of `payloadSize` bytes to `target`, 0.2 s apart.
        case ping(target: IPv4Address, count: Int, payloadSize: Int)
        /// A fresh DHCP exchange (DISCOVER, OFFER, REQUEST, ACK), keeping the current lease
        /// until it completes.
        case dhcp
        /// Renew the lease now, unicast to the server that gave it (what T1 does).
        case renew
    }

    /// The finished outcome of a command.
    public struct Outcome: Codable, Sendable, Equatable {
        public var id: String
        public var succeeded: Bool
        /// What happened, in one line.
        public var detail: String
        public var ping: TapGuestPingResult?
        public var lease: TapGuestLease?
    }

    public let identity: Identity
    /// Destinations the guest may ping: the lab's own subnets, nothing else.
    public let allowedTargets: [IPPrefix]

    public private(set) var dhcpState: DHCPState = .initial
    /// The lease in force, if any (kept while a commanded exchange runs).
    public private(set) var lease: TapGuestLease?
    /// Outcomes not yet collected by the runner (`takeFinished()`).
    public private(set) var finished: [Outcome] = []
    /// Bumped whenever `lease` or `dhcpState` changes, so the runner knows when to write them out.
    public private(set) var leaseGeneration = 0

    // DHCP transaction
    private var xid: UInt32
    private var transactionStarted = 0.0
    private var nextRetransmit = Double.infinity
    private var retransmitInterval = 1.0
    private var attempts = 0
    private var offer: (address: IPv4Address, serverID: IPv4Address)?
    /// The command that asked for the running exchange (nil for the guest's own).
    private var dhcpCommand: String?

    // ARP
    private var neighbours: [IPv4Address: (mac: MACAddress, learnedAt: Double)] = [:]
    private var resolving: [IPv4Address: (since: Double, attempts: Int, nextTry: Double)] = [:]

    // Ping
    private var pings: [PingSession] = []
    private var ipIdentification: UInt16 = 1
    private var pingSerial: UInt16 = 0

    // MARK: Tunables (RFC 2131 section 4.1 suggests 4 s doubling; the lab wants quick checks)

    /// First retransmission after 1 s, doubling up to 8 s while booting.
    static let firstRetransmit = 1.0
    static let maximumRetransmit = 8.0
    /// Attempts per step of a commanded exchange (1 s apart) and of REQUEST after an OFFER.
    static let commandedAttempts = 3
    static let arpAttempts = 3
    static let arpRetry = 1.0
    static let neighbourLifetime = 300.0
    static let pingInterval = 0.2
    static let pingTimeout = 1.0
    public static let maximumPingCount = 10

    public init(identity: Identity, allowedTargets: [IPPrefix], seed: UInt32) {
        self.identity = identity
        self.allowedTargets = allowedTargets
        xid = seed == 0 ? 1 : seed
    }

    /// Starts the DHCP client (booting): the first DISCOVER.
    public mutating func start(now: Double) -> [[UInt8]] {
        beginDiscover(now: now, command: nil)
    }

    /// Hands the finished outcomes over and forgets them.
    public mutating func takeFinished() -> [Outcome] {
        defer { finished = [] }
        return finished
    }

    // MARK: Commands

    /// Starts `command` (identified by `id` in its outcome). Refuses, as a finished outcome,
    /// what the guest cannot do: a ping outside the lab, without an address, above the MTU.
    public mutating func perform(_ command: Command, id: String, now: Double) -> [[UInt8]] {
        switch command {
        case .dhcp:
            if let running = dhcpCommand {
                return refuse(id, "a DHCP exchange asked by \(running) is still running")
            }
            return beginDiscover(now: now, command: id)
        case .renew:
            guard let lease else { return refuse(id, "no lease to renew (DHCP state \(dhcpState.rawValue))") }
            if let running = dhcpCommand { return refuse(id, "a DHCP exchange asked by \(running) is still running") }
            dhcpCommand = id
            return beginRenewal(now: now, state: .renewing, lease: lease)
        case .ping(let target, let count, let size):
            guard allowedTargets.contains(where: { $0.contains(.v4(target)) }) else {
                return refuse(id, "\(target) is not a lab address; the guest pings only \(allowedTargets.map(\.description).joined(separator: ", "))")
            }
            guard (1...Self.maximumPingCount).contains(count) else {
                return refuse(id, "count \(count) is out of range: use 1-\(Self.maximumPingCount)")
            }
            guard let lease else { return refuse(id, "no address yet (DHCP state \(dhcpState.rawValue))") }
            guard size >= 0, IPv4Header.minimumLength + ICMPHeader.length + size <= lease.effectiveMTU else {
                return refuse(id, "a \(size)-byte ping does not fit the MTU \(lease.effectiveMTU) of the lease")
            }
            guard let hop = nextHop(for: target, lease: lease) else {
                return refuse(id, "no route to \(target): the lease has no router")
            }
            pingSerial &+= 1
            let session = PingSession(id: id, target: target, nextHop: hop, count: count, payloadSize: size,
                                      identifier: UInt16(truncatingIfNeeded: xid) ^ pingSerial, started: now)
            pings.append(session)
            return tick(now: now)
        }
    }

    private mutating func refuse(_ id: String, _ why: String) -> [[UInt8]] {
        finished.append(Outcome(id: id, succeeded: false, detail: why))
        return []
    }

    // MARK: Time

    /// Advances timers: DHCP retransmissions and T1/T2/expiry, ARP retries, ping sends and
    /// timeouts. Call it often (every 100 ms is plenty).
    public mutating func tick(now: Double) -> [[UInt8]] {
        var out: [[UInt8]] = []
        out += dhcpTimers(now: now)
        out += arpTimers(now: now)
        out += pingTimers(now: now)
        return out
    }

    // MARK: Frames in

    /// Handles one received Ethernet frame and returns the frames it causes (replies).
    public mutating func receive(_ frame: [UInt8], now: Double) -> [[UInt8]] {
        let layers = Packet(decoding: frame, linkType: .ethernet).headers(in: frame)
        guard layers.count >= 2, case .ethernet(let eth) = layers[0] else { return [] }
        guard eth.destination == identity.mac || eth.destination.isBroadcast else { return [] }
        switch layers[1] {
        case .arp(let arp):
            return receiveARP(arp, now: now)
        case .ipv4(let ip):
            guard layers.count >= 3 else { return [] }
            switch layers[2] {
            case .icmp(let icmp):
                return receiveICMP(icmp, ip: ip, eth: eth, frame: frame, now: now)
            case .udp(let udp) where udp.destinationPort == UDPHeader.WellKnownPort.bootpc && udp.sourcePort == UDPHeader.WellKnownPort.bootps:
                guard layers.count >= 4, case .dhcp(let message) = layers[3] else { return [] }
                return receiveDHCP(message, serverMAC: eth.source, frame: frame, now: now)
            default:
                return []
            }
        default:
            return []
        }
    }

    // MARK: DHCP

    private mutating func nextXID() {
        // xorshift: a fresh transaction id per exchange, from the seed.
        xid ^= xid << 13
        xid ^= xid >> 17
        xid ^= xid << 5
    }

    private mutating func setState(_ state: DHCPState) {
        if dhcpState != state { leaseGeneration += 1 }
        dhcpState = state
    }

    private mutating func beginDiscover(now: Double, command: String?) -> [[UInt8]] {
        nextXID()
        dhcpCommand = command
        offer = nil
        setState(.selecting)
        transactionStarted = now
        attempts = 0
        retransmitInterval = Self.firstRetransmit
        return sendDiscover(now: now)
    }

    private mutating func sendDiscover(now: Double) -> [[UInt8]] {
        attempts += 1
        nextRetransmit = now + retransmitInterval
        let message = try? DHCPMessage.discover(xid: xid, clientMAC: identity.mac, hostName: identity.hostName,
                                                requestedAddress: lease?.address, secs: secs(now))
        return broadcastDHCP(message)
    }

    private mutating func sendSelectingRequest(now: Double) -> [[UInt8]] {
        guard let offer else { return [] }
        attempts += 1
        nextRetransmit = now + Self.firstRetransmit
        let message = try? DHCPMessage.request(xid: xid, clientMAC: identity.mac, requestedAddress: offer.address,
                                               serverID: offer.serverID, hostName: identity.hostName, secs: secs(now))
        return broadcastDHCP(message)
    }

    private mutating func beginRenewal(now: Double, state: DHCPState, lease: TapGuestLease) -> [[UInt8]] {
        nextXID()
        setState(state)
        transactionStarted = now
        attempts = 0
        return sendRenewal(now: now, lease: lease)
    }

    /// RENEWING: unicast to the server (through ARP like any unicast); REBINDING: broadcast.
    private mutating func sendRenewal(now: Double, lease: TapGuestLease) -> [[UInt8]] {
        attempts += 1
        if dhcpCommand != nil {
            nextRetransmit = now + Self.firstRetransmit
        } else {
            // RFC 2131 4.4.5: wait half the time left to T2 (or to expiry), at least 60 s.
            let limit = dhcpState == .renewing ? lease.rebindAt : lease.expiresAt
            nextRetransmit = now + max(60, (limit - now) / 2)
        }
        guard let message = try? DHCPMessage.request(xid: xid, clientMAC: identity.mac, clientAddress: lease.address,
                                                     hostName: identity.hostName, secs: secs(now)) else { return [] }
        if dhcpState == .rebinding {
            return frames(try? Frames.udp(from: identity.mac, to: .broadcast, source: lease.address, destination: .broadcast,
                                          sourcePort: UDPHeader.WellKnownPort.bootpc, destinationPort: UDPHeader.WellKnownPort.bootps,
                                          payload: message))
        }
        return sendIPv4(to: lease.serverID, protocol: IPProtocolNumber.udp, now: now) { source, destination throws(PacketEncodeError) in
            try UDPHeader.encode(sourcePort: UDPHeader.WellKnownPort.bootpc, destinationPort: UDPHeader.WellKnownPort.bootps,
                                 payload: message, source: source, destination: destination)
        }
    }

    private func secs(_ now: Double) -> UInt16 { UInt16(min(65_535, max(0, now - transactionStarted))) }

    private func broadcastDHCP(_ message: [UInt8]?) -> [[UInt8]] {
        guard let message else { return [] }
        return frames(try? Frames.udp(from: identity.mac, to: .broadcast, source: .any, destination: .broadcast,
                                      sourcePort: UDPHeader.WellKnownPort.bootpc, destinationPort: UDPHeader.WellKnownPort.bootps,
                                      payload: message))
    }

    private mutating func dhcpTimers(now: Double) -> [[UInt8]] {
        // Lease timers first: they can start a renewal or end the lease.
        if let lease {
            if now >= lease.expiresAt {
                self.lease = nil
                leaseGeneration += 1
                finishCommand(succeeded: false, "the lease of \(lease.address) expired without an ACK")
                return beginDiscover(now: now, command: nil)
            }
            if dhcpState == .bound && dhcpCommand == nil {
                if now >= lease.rebindAt { return beginRenewal(now: now, state: .rebinding, lease: lease) }
                if now >= lease.renewAt { return beginRenewal(now: now, state: .renewing, lease: lease) }
            }
            if dhcpState == .renewing && dhcpCommand == nil && now >= lease.rebindAt {
                return beginRenewal(now: now, state: .rebinding, lease: lease)
            }
        }
        guard now >= nextRetransmit else { return [] }
        let commanded = dhcpCommand != nil
        switch dhcpState {
        case .selecting:
            if commanded && attempts >= Self.commandedAttempts {
                return giveUp("no DHCPOFFER after \(attempts) DHCPDISCOVERs", now: now)
            }
            if !commanded { retransmitInterval = min(Self.maximumRetransmit, retransmitInterval * 2) }
            return sendDiscover(now: now)
        case .requesting:
            if attempts >= Self.commandedAttempts {
                if commanded { return giveUp("no DHCPACK after \(attempts) DHCPREQUESTs for \(offer.map { "\($0.address)" } ?? "?")", now: now) }
                return beginDiscover(now: now, command: nil)
            }
            return sendSelectingRequest(now: now)
        case .renewing, .rebinding:
            guard let lease else { return beginDiscover(now: now, command: nil) }
            if commanded && attempts >= Self.commandedAttempts {
                return giveUp("no DHCPACK after \(attempts) renewal DHCPREQUESTs to \(lease.serverID)", now: now)
            }
            return sendRenewal(now: now, lease: lease)
        case .initial, .bound:
            nextRetransmit = .infinity
            return []
        }
    }

    /// A commanded exchange failed: report it, and go back to the lease in force (or keep
    /// booting without one).
    private mutating func giveUp(_ why: String, now: Double) -> [[UInt8]] {
        finishCommand(succeeded: false, why)
        if lease != nil {
            setState(.bound)
            nextRetransmit = .infinity
            return []
        }
        return beginDiscover(now: now, command: nil)
    }

    private mutating func finishCommand(succeeded: Bool, _ detail: String) {
        guard let id = dhcpCommand else { return }
        finished.append(Outcome(id: id, succeeded: succeeded, detail: detail, lease: succeeded ? lease : nil))
        dhcpCommand = nil
    }

    private mutating func receiveDHCP(_ message: DHCPMessage, serverMAC: MACAddress, frame: [UInt8], now: Double) -> [[UInt8]] {
        guard message.op == 2, message.xid == xid, message.clientHardwareAddress == identity.mac,
              let type = message.messageType else { return [] }
        let options = frame.withUnsafeBytes { (try? DHCPOption.all(in: $0, of: message)) ?? [] }
        func address(_ code: UInt8) -> IPv4Address? { options.first { $0.code == code }?.addresses?.first }
        func number(_ code: UInt8) -> UInt32? { options.first { $0.code == code }?.number }
        switch (dhcpState, type) {
        case (.selecting, .offer):
            guard let server = address(DHCPOption.Code.serverIdentifier), message.yiaddr != .any else { return [] }
            offer = (message.yiaddr, server)
            setState(.requesting)
            attempts = 0
            return sendSelectingRequest(now: now)
        case (.requesting, .ack), (.renewing, .ack), (.rebinding, .ack):
            let mask = address(DHCPOption.Code.subnetMask) ?? IPv4Address(255, 255, 255, 0)
            let seconds = number(DHCPOption.Code.ipAddressLeaseTime) ?? 3600
            let granted = message.yiaddr != .any ? message.yiaddr : message.ciaddr
            let previous = lease
            var new = TapGuestLease(
                address: granted, prefixLength: mask.value.nonzeroBitCount,
                router: address(DHCPOption.Code.router),
                dnsServers: options.first { $0.code == DHCPOption.Code.domainNameServer }?.addresses ?? [],
                domainName: options.first { $0.code == DHCPOption.Code.domainName }?.text,
                mtu: number(DHCPOption.Code.interfaceMTU).map(Int.init),
                serverID: address(DHCPOption.Code.serverIdentifier) ?? previous?.serverID ?? .any,
                serverMAC: serverMAC,
                leaseSeconds: seconds,
                renewalSeconds: number(DHCPOption.Code.renewalTime) ?? seconds / 2,
                rebindingSeconds: number(DHCPOption.Code.rebindingTime) ?? seconds / 8 * 7,
                boundAt: now,
                acknowledgements: (previous?.address == granted ? previous?.acknowledgements ?? 0 : 0) + 1)
            if new.rebindingSeconds < new.renewalSeconds { new.rebindingSeconds = new.renewalSeconds }
            lease = new
            offer = nil
            leaseGeneration += 1
            setState(.bound)
            nextRetransmit = .infinity
            if previous?.address != granted { neighbours = [:] }
            finishCommand(succeeded: true, "DHCPACK from \(new.serverID): \(new.address)/\(new.prefixLength)")
            return []
        case (.requesting, .nak), (.renewing, .nak), (.rebinding, .nak):
            let server = address(DHCPOption.Code.serverIdentifier).map { "\($0)" } ?? "the server"
            let text = options.first { $0.code == DHCPOption.Code.message }?.text.map { ": \($0)" } ?? ""
            lease = nil
            leaseGeneration += 1
            finishCommand(succeeded: false, "DHCPNAK from \(server)\(text)")
            return beginDiscover(now: now, command: nil)
        default:
            return []
        }
    }

    /// DHCPRELEASE to the server, when the guest shuts down with a lease.
    public mutating func release(now: Double) -> [[UInt8]] {
        guard let lease else { return [] }
        nextXID()
        guard let message = try? DHCPMessage.release(xid: xid, clientMAC: identity.mac, clientAddress: lease.address,
                                                     serverID: lease.serverID) else { return [] }
        // Release is fire-and-forget: only if the server's MAC is already known.
        guard let mac = neighbour(lease.serverID, now: now) ?? lease.serverMAC else { return [] }
        self.lease = nil
        leaseGeneration += 1
        setState(.initial)
        return frames(try? Frames.udp(from: identity.mac, to: mac, source: lease.address, destination: lease.serverID,
                                      sourcePort: UDPHeader.WellKnownPort.bootpc, destinationPort: UDPHeader.WellKnownPort.bootps,
                                      payload: message))
    }

    // MARK: ARP

    private mutating func receiveARP(_ arp: ARPPacket, now: Double) -> [[UInt8]] {
        guard let sha = arp.senderHardwareAddress, let spa = arp.senderProtocolAddress, let tpa = arp.targetProtocolAddress else { return [] }
        var out: [[UInt8]] = []
        if let lease, lease.subnet.contains(.v4(spa)), spa != .any {
            neighbours[spa] = (sha, now)
            if resolving.removeValue(forKey: spa) != nil {
                // What waited for this neighbour goes out now.
                if dhcpState == .renewing && spa == lease.serverID { out += sendRenewal(now: now, lease: lease) }
                out += pingTimers(now: now)
            }
        }
        if arp.isRequest, let lease, tpa == lease.address, spa != lease.address {
            out += frames(try? Frames.arpReply(senderMAC: identity.mac, senderIP: lease.address, targetMAC: sha, targetIP: spa))
        }
        return out
    }

    private func neighbour(_ ip: IPv4Address, now: Double) -> MACAddress? {
        guard let entry = neighbours[ip], now - entry.learnedAt < Self.neighbourLifetime else { return nil }
        return entry.mac
    }

    private func nextHop(for destination: IPv4Address, lease: TapGuestLease) -> IPv4Address? {
        lease.subnet.contains(.v4(destination)) ? destination : lease.router
    }

    /// An IPv4 packet to `destination` through its next hop: sent now when the next hop's MAC is
    /// known, else an ARP request goes out first (the caller retries on its own timer).
    private mutating func sendIPv4(to destination: IPv4Address, protocol proto: UInt8, now: Double,
                                   payload: (IPv4Address, IPv4Address) throws(PacketEncodeError) -> [UInt8]) -> [[UInt8]] {
        guard let lease, let hop = nextHop(for: destination, lease: lease) else { return [] }
        guard let mac = neighbour(hop, now: now) else { return resolve(hop, now: now) }
        ipIdentification &+= 1
        guard let body = try? payload(lease.address, destination) else { return [] }
        return frames(try? Frames.ipv4(from: identity.mac, to: mac, source: lease.address, destination: destination,
                                       protocol: proto, payload: body, identification: ipIdentification))
    }

    private mutating func resolve(_ ip: IPv4Address, now: Double) -> [[UInt8]] {
        guard let lease, resolving[ip] == nil else { return [] }
        resolving[ip] = (now, 1, now + Self.arpRetry)
        return frames(try? Frames.arpRequest(senderMAC: identity.mac, senderIP: lease.address, targetIP: ip))
    }

    /// Retries unanswered ARP requests; after the last one times out the entry is dropped, so a
    /// later packet starts a fresh resolution (what waited gives up on its own timer).
    private mutating func arpTimers(now: Double) -> [[UInt8]] {
        guard let lease else { resolving = [:]; return [] }
        var out: [[UInt8]] = []
        for (ip, entry) in resolving where now >= entry.nextTry {
            if entry.attempts >= Self.arpAttempts {
                resolving[ip] = nil
                continue
            }
            resolving[ip] = (entry.since, entry.attempts + 1, now + Self.arpRetry)
            out += frames(try? Frames.arpRequest(senderMAC: identity.mac, senderIP: lease.address, targetIP: ip))
        }
        return out
    }

    // MARK: ICMP

    private mutating func receiveICMP(_ icmp: ICMPHeader, ip: IPv4Header, eth: EthernetHeader, frame: [UInt8], now: Double) -> [[UInt8]] {
        guard let lease, ip.destination == lease.address else { return [] }
        let data = Array(frame[icmp.data.offset..<min(icmp.data.end, ip.payload.end)])
        switch icmp.type {
        case 8:
            // Reply to the sender's MAC: the router's for off-subnet pings, the neighbour's otherwise.
            ipIdentification &+= 1
            return frames(try? Frames.icmpEcho(reply: true, from: identity.mac, to: eth.source, source: lease.address,
                                               destination: ip.source, identifier: icmp.identifier, sequence: icmp.sequenceNumber,
                                               data: data, identification: ipIdentification))
        case 0:
            for i in pings.indices where pings[i].identifier == icmp.identifier && pings[i].target == ip.source {
                pings[i].answer(sequence: icmp.sequenceNumber, now: now)
            }
            return pingTimers(now: now)
        default:
            return []
        }
    }

    private mutating func pingTimers(now: Double) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var index = 0
        while index < pings.count {
            var session = pings[index]
            if lease == nil {
                session.error = "the lease was lost"
            } else if session.transmitted == 0, neighbour(session.nextHop, now: now) == nil,
                      now - session.started >= Double(Self.arpAttempts) * Self.arpRetry {
                session.error = "next hop \(session.nextHop) did not answer ARP (\(Self.arpAttempts) requests)"
            }
            if session.error == nil, session.transmitted < session.count, now >= session.nextSend, let lease {
                if let mac = neighbour(session.nextHop, now: now) {
                    let sequence = UInt16(session.transmitted + 1)
                    let data = PingSession.data(size: session.payloadSize, sequence: sequence)
                    ipIdentification &+= 1
                    out += frames(try? Frames.icmpEcho(from: identity.mac, to: mac, source: lease.address, destination: session.target,
                                                       identifier: session.identifier, sequence: sequence, data: data,
                                                       identification: ipIdentification))
                    session.sent[sequence] = now
                    session.transmitted += 1
                    session.nextSend = now + Self.pingInterval
                } else {
                    out += resolve(session.nextHop, now: now)
                }
            }
            let lastDeadline = (session.sent.values.max() ?? now) + Self.pingTimeout
            let done = session.error != nil
                || (session.transmitted == session.count && (session.received == session.count || now >= lastDeadline))
            if done {
                finished.append(session.outcome)
                pings.remove(at: index)
            } else {
                pings[index] = session
                index += 1
            }
        }
        return out
    }

    private func frames(_ frame: [UInt8]?) -> [[UInt8]] { frame.map { [$0] } ?? [] }
}

/// What the guest learned from its DHCP server.
public struct TapGuestLease: Codable, Sendable, Equatable {
    public var address: IPv4Address
    public var prefixLength: Int
    public var router: IPv4Address?
    public var dnsServers: [IPv4Address]
    public var domainName: String?
    /// Option 26; nil when the server sent none (the guest then uses 1500).
    public var mtu: Int?
    public var serverID: IPv4Address
    /// The MAC the ACK came from.
    public var serverMAC: MACAddress?
    public var leaseSeconds: UInt32
    /// T1 and T2 (from options 58 and 59, or 1/2 and 7/8 of the lease).
    public var renewalSeconds: UInt32
    public var rebindingSeconds: UInt32
    /// When the last ACK came, in the stack's monotonic seconds.
    public var boundAt: Double
    /// ACKs received for this address: 1 for the first lease, more after renewals or new exchanges.
    public var acknowledgements: Int

    public var subnet: IPPrefix { IPPrefix(address: .v4(address), length: prefixLength) }
    public var effectiveMTU: Int { mtu ?? 1500 }
    var renewAt: Double { boundAt + Double(renewalSeconds) }
    var rebindAt: Double { boundAt + Double(rebindingSeconds) }
    var expiresAt: Double { boundAt + Double(leaseSeconds) }
}

/// The outcome of a commanded ping.
public struct TapGuestPingResult: Codable, Sendable, Equatable {
    public var target: IPv4Address
    public var transmitted: Int
    public var received: Int
    /// Round-trip times of the replies, in milliseconds, in sequence order.
    public var roundTripMilliseconds: [Double]
    public var error: String?
}

/// One commanded ping run.
struct PingSession: Sendable {
    var id: String
    var target: IPv4Address
    var nextHop: IPv4Address
    var count: Int
    var payloadSize: Int
    var identifier: UInt16
    var started: Double
    var nextSend: Double
    var transmitted = 0
    var sent: [UInt16: Double] = [:]
    var rtts: [UInt16: Double] = [:]
    var error: String?

    init(id: String, target: IPv4Address, nextHop: IPv4Address, count: Int, payloadSize: Int, identifier: UInt16, started: Double) {
        self.id = id
        self.target = target
        self.nextHop = nextHop
        self.count = count
        self.payloadSize = payloadSize
        self.identifier = identifier
        self.started = started
        nextSend = started
    }

    var received: Int { rtts.count }

    mutating func answer(sequence: UInt16, now: Double) {
        guard let at = sent[sequence], rtts[sequence] == nil else { return }
        rtts[sequence] = (now - at) * 1000
    }

    /// Echo data: the sequence number, then a counting pattern (as ping fills its payload).
    static func data(size: Int, sequence: UInt16) -> [UInt8] {
        (0..<size).map { i in i < 2 ? UInt8(truncatingIfNeeded: sequence >> (8 * UInt16(1 - i))) : UInt8(truncatingIfNeeded: i) }
    }

    var outcome: TapGuestStack.Outcome {
        let result = TapGuestPingResult(target: target, transmitted: transmitted, received: received,
                                        roundTripMilliseconds: rtts.sorted { $0.key < $1.key }.map(\.value), error: error)
        let detail: String
        if let error {
            detail = error
        } else if received > 0 {
            let best = result.roundTripMilliseconds.min() ?? 0
            detail = "\(received) of \(transmitted) replies from \(target) (best \(String(format: "%.2f", best)) ms)"
        } else {
            detail = "no reply from \(target) (\(transmitted) sent)"
        }
        return TapGuestStack.Outcome(id: id, succeeded: received > 0, detail: detail, ping: result)
    }
}

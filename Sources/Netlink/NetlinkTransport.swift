import HopscopeModel

/// Where netlink requests go and replies come from: a real socket (`NetlinkSocket`) or, in
/// tests, a fake kernel that maps each request to reply datagrams.
///
/// Not thread-safe: one request or dump at a time per transport.
public protocol NetlinkTransport: AnyObject {
    /// The port id replies are addressed to.
    var portID: UInt32 { get }
    /// The namespace label, for error messages.
    var namespaceLabel: String { get }
    /// Sends one request message.
    func send(_ message: [UInt8]) throws
    /// Receives one datagram and lends its bytes to `body` for the duration of the call.
    func receive<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
    /// A fresh, increasing sequence number for the next request.
    func nextSequenceNumber() -> UInt32
}

/// The result of a dump: decoded items, and messages that did not decode (kept apart so that one
/// odd device does not hide all the others; the caller reports them).
public struct DumpResult<Item> {
    public var items: [Item] = []
    public var problems: [NetlinkDecodeError] = []
    /// How many attempts it took (more than one when a dump was interrupted and retried).
    public var attempts = 1
}

extension NetlinkTransport {
    /// Dumps `type` and decodes every reply message with `decode` (return nil to leave a message
    /// out). Checks port ids and sequence numbers, follows multipart replies to `NLMSG_DONE`,
    /// turns `NLMSG_ERROR` into `NetlinkError.kernel` with the extended-ack text, and restarts the
    /// whole dump when the kernel flags it `NLM_F_DUMP_INTR` (an interface was added, renamed or
    /// deleted during the dump), up to `maxAttempts` times.
    ///
    /// Messages with an older sequence number (left over from an abandoned request) are skipped.
    public func dump<Item>(
        _ type: MessageType,
        familyHeader: [UInt8],
        attributes: (inout NetlinkMessageBuilder) -> Void = { _ in },
        maxAttempts: Int = 10,
        decode: (NetlinkMessage) throws -> Item?
    ) throws -> DumpResult<Item> {
        let operation = "\(type.kernelName) dump"
        for attempt in 1...max(1, maxAttempts) {
            let sequence = nextSequenceNumber()
            var builder = NetlinkMessageBuilder(type: type.rawValue, flags: [.request, .dump], sequence: sequence)
            builder.appendHeader(familyHeader)
            attributes(&builder)
            try send(builder.bytes)

            var result = DumpResult<Item>()
            result.attempts = attempt
            var interrupted = false
            var finished = false
            while !finished {
                try receive { datagram in
                    // Room for the whole datagram at once instead of regrowing (and moving every
                    // large item) as the items arrive one by one; at least doubling, since an
                    // exact reservation per datagram would move everything on every datagram.
                    let needed = result.items.count + Self.messageCount(datagram)
                    if needed > result.items.capacity {
                        result.items.reserveCapacity(max(needed, 2 * result.items.capacity))
                    }
                    var messages = NetlinkMessageIterator(datagram)
                    while let m = messages.next() {
                        guard try accept(m, sequence: sequence, operation: operation) else { continue }
                        if m.flags.contains(.dumpInterrupted) { interrupted = true }
                        switch MessageType(rawValue: m.type) {
                        case .noop?:
                            continue
                        case .done?:
                            try checkDone(m, operation: operation)
                            finished = true
                            return
                        case .error?:
                            try checkAcknowledgement(m, operation: operation)
                            finished = true
                            return
                        case .overrun?:
                            throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .overrun)
                        default:
                            do {
                                if let item = try decode(m) { result.items.append(item) }
                            } catch let e as NetlinkDecodeError {
                                result.problems.append(e)
                            }
                            if !m.flags.contains(.multipart) {
                                finished = true
                                return
                            }
                        }
                    }
                    if let e = messages.error {
                        throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .decode(e))
                    }
                }
            }
            if !interrupted { return result }
        }
        throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .dumpInterrupted(attempts: max(1, maxAttempts)))
    }

    /// Sends one request (not a dump) and returns what `decode` makes of the reply addressed to
    /// it; a kernel error throws `NetlinkError.kernel`. With `acknowledge`, the kernel's ack
    /// (an `NLMSG_ERROR` with errno 0) ends the exchange and `decode` may never be called (nil).
    public func request<Item>(
        _ type: MessageType,
        familyHeader: [UInt8],
        attributes: (inout NetlinkMessageBuilder) -> Void = { _ in },
        decode: (NetlinkMessage) throws -> Item
    ) throws -> Item {
        let operation = type.kernelName
        let sequence = nextSequenceNumber()
        var builder = NetlinkMessageBuilder(type: type.rawValue, flags: [.request], sequence: sequence)
        builder.appendHeader(familyHeader)
        attributes(&builder)
        try send(builder.bytes)
        // Bounded: a reply to a request is one message; stale datagrams from an abandoned dump are
        // skipped, but never more than this many.
        for _ in 0..<1024 {
            let reply: Item? = try receive { datagram in
                var messages = NetlinkMessageIterator(datagram)
                while let m = messages.next() {
                    guard try accept(m, sequence: sequence, operation: operation) else { continue }
                    switch MessageType(rawValue: m.type) {
                    case .noop?: continue
                    case .error?:
                        try checkAcknowledgement(m, operation: operation)
                        throw NetlinkError(operation: operation, namespace: namespaceLabel,
                                           reason: .decode(NetlinkDecodeError(problem: .malformed, context: "reply", offset: 0,
                                                                              detail: "the kernel acknowledged without sending the reply")))
                    case .overrun?:
                        throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .overrun)
                    default:
                        do {
                            return try decode(m)
                        } catch let e as NetlinkDecodeError {
                            throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .decode(e))
                        }
                    }
                }
                if let e = messages.error {
                    throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .decode(e))
                }
                return nil
            }
            if let reply { return reply }
        }
        throw NetlinkError(operation: operation, namespace: namespaceLabel,
                           reason: .decode(NetlinkDecodeError(problem: .malformed, context: "reply", offset: 0,
                                                              detail: "no reply to the request among 1024 datagrams")))
    }

    /// Sends `count` requests of `type` (not dumps), several to a datagram, and returns each one's
    /// outcome in order: what `decode` makes of its reply, or the kernel's error for it. Makes one
    /// round trip per `perDatagram` requests instead of one per request; `attributes` fills in
    /// request `i`.
    ///
    /// A datagram carries at most `perDatagram` requests so that the replies fit the socket's
    /// receive queue before they are read. Framing problems, another port, or a sequence number
    /// beyond the batch throw, as in `request`.
    public func requests<Item>(
        _ type: MessageType,
        familyHeader: [UInt8],
        count: Int,
        perDatagram: Int = 64,
        attributes: (Int, inout NetlinkMessageBuilder) -> Void,
        decode: (NetlinkMessage) throws -> Item
    ) throws -> [Result<Item, NetlinkError>] {
        let operation = type.kernelName
        var outcomes: [Result<Item, NetlinkError>] = []
        outcomes.reserveCapacity(count)
        var start = 0
        while start < count {
            let n = min(max(1, perDatagram), count - start)
            var datagram: [UInt8] = []
            var first: UInt32 = 0
            for i in 0..<n {
                let sequence = nextSequenceNumber()
                if i == 0 { first = sequence }
                var builder = NetlinkMessageBuilder(type: type.rawValue, flags: [.request], sequence: sequence)
                builder.appendHeader(familyHeader)
                attributes(start + i, &builder)
                datagram += builder.bytes
            }
            try send(datagram)
            var answers = [Result<Item, NetlinkError>?](repeating: nil, count: n)
            var answered = 0
            // Bounded: every request gets exactly one reply or error; stale datagrams from an
            // abandoned exchange are skipped, but never more than this many.
            var datagramsLeft = n + 1024
            while answered < n {
                guard datagramsLeft > 0 else {
                    throw NetlinkError(operation: operation, namespace: namespaceLabel,
                                       reason: .decode(NetlinkDecodeError(problem: .malformed, context: "reply", offset: 0,
                                                                          detail: "\(n - answered) of \(n) requests unanswered after \(n + 1024) datagrams")))
                }
                datagramsLeft -= 1
                try receive { bytes in
                    var messages = NetlinkMessageIterator(bytes)
                    while let m = messages.next() {
                        guard m.portID == portID else {
                            throw NetlinkError(operation: operation, namespace: namespaceLabel,
                                               reason: .unexpectedPort(expected: portID, received: m.portID))
                        }
                        if m.sequence < first { continue }
                        let slot = Int(m.sequence &- first)
                        guard slot < n else {
                            throw NetlinkError(operation: operation, namespace: namespaceLabel,
                                               reason: .unexpectedSequence(expected: first &+ UInt32(n - 1), received: m.sequence))
                        }
                        let outcome: Result<Item, NetlinkError>
                        switch MessageType(rawValue: m.type) {
                        case .noop?: continue
                        case .overrun?:
                            throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .overrun)
                        case .error?:
                            do {
                                try checkAcknowledgement(m, operation: operation)
                                outcome = .failure(NetlinkError(operation: operation, namespace: namespaceLabel,
                                                                reason: .decode(NetlinkDecodeError(problem: .malformed, context: "reply", offset: 0,
                                                                                                   detail: "the kernel acknowledged without sending the reply"))))
                            } catch let e as NetlinkError {
                                outcome = .failure(e)
                            }
                        default:
                            do {
                                outcome = .success(try decode(m))
                            } catch let e as NetlinkDecodeError {
                                outcome = .failure(NetlinkError(operation: operation, namespace: namespaceLabel, reason: .decode(e)))
                            }
                        }
                        if answers[slot] == nil { answered += 1 }
                        answers[slot] = outcome
                    }
                    if let e = messages.error {
                        throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .decode(e))
                    }
                }
            }
            outcomes += answers.map { $0! }
            start += n
        }
        return outcomes
    }

    /// How many data messages (not NLMSG_DONE, NLMSG_ERROR, ...) a datagram holds, by their
    /// header fields alone: an upper bound on the items it yields. Framing errors are left to the
    /// iterator.
    static func messageCount(_ datagram: UnsafeRawBufferPointer) -> Int {
        var count = 0, position = 0
        while datagram.count - position >= FamilyHeaderSize.nlmsghdr {
            let length = Int(datagram.loadUnaligned(fromByteOffset: position, as: UInt32.self))
            guard length >= FamilyHeaderSize.nlmsghdr else { break }
            // Types below 16 (NLMSG_MIN_TYPE) are the protocol's own control messages.
            if datagram.loadUnaligned(fromByteOffset: position + 4, as: UInt16.self) >= 16 { count += 1 }
            position += (length + 3) & ~3
        }
        return count
    }

    /// True when `m` answers the current request; false for a stale reply to an earlier one.
    private func accept(_ m: NetlinkMessage, sequence: UInt32, operation: String) throws -> Bool {
        guard m.portID == portID else {
            throw NetlinkError(operation: operation, namespace: namespaceLabel,
                               reason: .unexpectedPort(expected: portID, received: m.portID))
        }
        if m.sequence == sequence { return true }
        if m.sequence < sequence { return false }
        throw NetlinkError(operation: operation, namespace: namespaceLabel,
                           reason: .unexpectedSequence(expected: sequence, received: m.sequence))
    }

    /// `NLMSG_DONE` carries an int: 0, or a negative errno when the dump failed part-way.
    private func checkDone(_ m: NetlinkMessage, operation: String) throws {
        guard m.payload.count >= 4 else { return }
        let code = m.payload.loadUnaligned(as: Int32.self)
        guard code < 0 else { return }
        let text = extendedAckMessage(m.payload, after: 4, flags: m.flags)
        throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .kernel(errno: -code, message: text))
    }

    /// `NLMSG_ERROR`: errno 0 is an acknowledgement; anything else throws with the extended-ack text.
    private func checkAcknowledgement(_ m: NetlinkMessage, operation: String) throws {
        guard m.payload.count >= 4 else {
            throw NetlinkError(operation: operation, namespace: namespaceLabel,
                               reason: .decode(NetlinkDecodeError(problem: .truncated, context: "nlmsgerr", offset: 0,
                                                                  detail: "needs 4 bytes, found \(m.payload.count)")))
        }
        let code = m.payload.loadUnaligned(as: Int32.self)
        if code == 0 { return }
        // The error echoes the request's header (and its payload unless NLM_F_CAPPED), then the TLVs.
        var skip = 4
        if m.payload.count >= 4 + FamilyHeaderSize.nlmsghdr {
            let originalLength = Int(m.payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            skip += m.flags.contains(.capped) ? FamilyHeaderSize.nlmsghdr : (originalLength + 3) & ~3
        }
        let text = extendedAckMessage(m.payload, after: skip, flags: m.flags)
        throw NetlinkError(operation: operation, namespace: namespaceLabel, reason: .kernel(errno: -code, message: text))
    }

    private func extendedAckMessage(_ payload: UnsafeRawBufferPointer, after offset: Int, flags: MessageFlags) -> String? {
        guard flags.contains(.ackTLVs), offset < payload.count else { return nil }
        var attributes = AttributeDecoder(UnsafeRawBufferPointer(rebasing: payload[offset...]), context: "extended ack")
        var text: String?
        var errorOffset: UInt32?
        while attributes.next() {
            switch ExtendedAckAttribute(rawValue: attributes.type) {
            case .message?: text = attributes.string()
            case .offset?: errorOffset = attributes.uint32()
            default: break
            }
        }
        switch (text, errorOffset) {
        case (let t?, let o?): return "\(t) (at byte \(o) of the request)"
        case (let t?, nil): return t
        case (nil, let o?): return "the kernel rejected the attribute at byte \(o) of the request"
        case (nil, nil): return nil
        }
    }
}

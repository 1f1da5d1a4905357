import Foundation
import HopscopeModel
import Netlink
import Testing

@Suite struct FakeKernelTests {
    typealias K = FakeKernel

    @Test func multipartDumpAcrossDatagramsEndsAtDone() throws {
        let kernel = K { r, _ in
            [K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 1, name: "lo", mtu: 65536))
                + K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 2, name: "eth0")),
             K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 3, name: "br-int", kind: "openvswitch")),
             K.done(sequence: r.sequence)]
        }
        let r = try kernel.dumpLinks()
        #expect(r.items.map(\.name) == ["lo", "eth0", "br-int"])
        #expect(r.items.last?.kind == .openvswitch)
        #expect(r.attempts == 1)
        #expect(kernel.requests.count == 1)
        #expect(kernel.requests[0].type == MessageType.getLink.rawValue)
        #expect(kernel.requests[0].flags == [.request, .dump])
    }

    @Test func staleRepliesFromAnEarlierRequestAreSkipped() throws {
        let kernel = K { r, _ in
            [K.message(16, sequence: r.sequence - 1, payload: K.linkPayload(index: 9, name: "stale")),
             K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 2, name: "eth0")) + K.done(sequence: r.sequence)]
        }
        _ = kernel.nextSequenceNumber()
        #expect(try kernel.dumpLinks().items.map(\.name) == ["eth0"])
    }

    @Test func replyWithAFutureSequenceNumberIsAnError() throws {
        let kernel = K { r, _ in [K.message(16, sequence: r.sequence + 5, payload: K.linkPayload(index: 2, name: "eth0"))] }
        #expect {
            try kernel.dumpLinks()
        } throws: { e in
            guard let e = e as? NetlinkError, case .unexpectedSequence(let expected, let received) = e.reason else { return false }
            return received == expected + 5
        }
    }

    @Test func replyToAnotherPortIsAnError() throws {
        let kernel = K { r, _ in [K.message(16, sequence: r.sequence, port: 7, payload: K.linkPayload(index: 2, name: "eth0"))] }
        #expect {
            try kernel.dumpLinks()
        } throws: { e in
            guard let e = e as? NetlinkError, case .unexpectedPort(4242, 7) = e.reason else { return false }
            return true
        }
    }

    @Test func interruptedDumpIsRetriedAndOnlyTheCleanAttemptCounts() throws {
        let kernel = K { r, attempt in
            if attempt == 1 {
                // An interface was renamed mid-dump: the kernel flags the rest of the dump.
                return [K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 2, name: "eth0")),
                        K.message(16, flags: [.multipart, .dumpInterrupted], sequence: r.sequence, payload: K.linkPayload(index: 3, name: "tmp123")),
                        K.done(sequence: r.sequence, flags: [.multipart, .dumpInterrupted])]
            }
            return [K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 2, name: "eth0"))
                        + K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 3, name: "tap1234"))
                        + K.done(sequence: r.sequence)]
        }
        let r = try kernel.dumpLinks()
        #expect(r.items.map(\.name) == ["eth0", "tap1234"])
        #expect(r.attempts == 2)
        #expect(kernel.requests.count == 2)
        #expect(kernel.requests[0].sequence != kernel.requests[1].sequence)
    }

    @Test func dumpThatIsAlwaysInterruptedGivesUp() throws {
        let kernel = K { r, _ in [K.done(sequence: r.sequence, flags: [.multipart, .dumpInterrupted])] }
        #expect {
            try kernel.dump(.getLink, familyHeader: [UInt8](repeating: 0, count: 16), maxAttempts: 3) { _ in () }
        } throws: { e in
            guard let e = e as? NetlinkError, case .dumpInterrupted(3) = e.reason else { return false }
            return e.description.contains("interrupted")
        }
        #expect(kernel.requests.count == 3)
    }

    @Test func kernelErrorCarriesErrnoAndExtendedAckText() throws {
        let kernel = K { r, _ in [K.error(EINVAL, to: r, message: "Unknown device type")] }
        #expect {
            try kernel.dumpLinks()
        } throws: { e in
            guard let e = e as? NetlinkError, case .kernel(let errno, let text) = e.reason else { return false }
            return errno == EINVAL && text == "Unknown device type" && e.description.contains("RTM_GETLINK dump")
                && e.description.contains("netns fake")
        }
    }

    @Test func errorInDoneFailsTheDump() throws {
        let kernel = K { r, _ in [K.done(sequence: r.sequence, error: -EPERM)] }
        #expect {
            try kernel.dumpLinks()
        } throws: { e in (e as? NetlinkError)?.errno == EPERM }
    }

    @Test func oneUndecodableMessageIsReportedAndTheOthersKept() throws {
        var bad = K.linkPayload(index: 5, name: "broken")
        // Make IFLA_MTU's length claim 6 bytes: a u32 cannot be 2 bytes long.
        let mtuAt = 16 + 12
        bad[mtuAt] = 6
        let kernel = K { r, _ in
            [K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 2, name: "eth0"))
                + K.message(16, sequence: r.sequence, payload: bad)
                + K.done(sequence: r.sequence)]
        }
        let r = try kernel.dumpLinks()
        #expect(r.items.map(\.name) == ["eth0"])
        #expect(r.problems.count == 1)
        #expect(r.problems.first?.problem == .malformed)
    }

    @Test func truncatedDatagramIsADecodeError() throws {
        let kernel = K { r, _ in
            let m = K.message(16, sequence: r.sequence, payload: K.linkPayload(index: 2, name: "eth0"))
            return [Array(m.dropLast(4))]
        }
        #expect {
            try kernel.dumpLinks()
        } throws: { e in
            guard let e = e as? NetlinkError, case .decode(let d) = e.reason else { return false }
            return d.problem == .truncated
        }
    }

    @Test func namespaceIDRequestSendsTheFileDescriptor() throws {
        let kernel = K { r, _ in
            var b = NetlinkMessageBuilder(type: 0, flags: [])
            b.appendHeader([0])
            b.attribute(NamespaceIDAttribute.nsid.rawValue, uint32: 7)
            return [K.message(MessageType.newNamespaceID.rawValue, flags: [], sequence: r.sequence, payload: Array(b.bytes[16...]))]
        }
        #expect(try kernel.namespaceID(ofNamespaceFD: 12) == 7)
        let sent = kernel.requests[0]
        #expect(sent.type == MessageType.getNamespaceID.rawValue)
        #expect(sent.flags == [.request])
        // rtgenmsg padded to 4 bytes, then NETNSA_FD = 12.
        #expect(Array(sent.payload[4...]) == [8, 0, 3, 0, 12, 0, 0, 0])
    }

    @Test func namespaceWithoutAnIDAnswersNil() throws {
        let kernel = K { r, _ in
            var b = NetlinkMessageBuilder(type: 0, flags: [])
            b.appendHeader([0])
            b.attribute(NamespaceIDAttribute.nsid.rawValue, uint32: UInt32(bitPattern: -1))
            return [K.message(MessageType.newNamespaceID.rawValue, flags: [], sequence: r.sequence, payload: Array(b.bytes[16...]))]
        }
        #expect(try kernel.namespaceID(ofNamespaceFD: 3) == nil)
    }
}

import Foundation
import Namespaces

/// A netlink request or dump that failed, naming the operation, the namespace and why; kernel
/// errors carry the errno and the kernel's extended-ack text when it sent one.
public struct NetlinkError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        /// The kernel answered with an error (`NLMSG_ERROR` or an error in `NLMSG_DONE`).
        case kernel(errno: Int32, message: String?)
        /// Every attempt of a dump was interrupted by concurrent changes (`NLM_F_DUMP_INTR`).
        case dumpInterrupted(attempts: Int)
        /// A reply carried a sequence number that belongs to no request of ours.
        case unexpectedSequence(expected: UInt32, received: UInt32)
        /// A reply was addressed to another port.
        case unexpectedPort(expected: UInt32, received: UInt32)
        /// The kernel dropped messages because the receive buffer overflowed (`NLMSG_OVERRUN`).
        case overrun
        /// The reply's framing was broken.
        case decode(NetlinkDecodeError)
        /// A socket call failed.
        case system(SystemCallError)
    }

    /// `RTM_GETLINK dump`, `RTM_GETNSID`, ...
    public var operation: String
    /// The namespace label the socket lives in.
    public var namespace: String
    public var reason: Reason

    public init(operation: String, namespace: String, reason: Reason) {
        self.operation = operation
        self.namespace = namespace
        self.reason = reason
    }

    /// The errno for kernel and system errors.
    public var errno: Int32? {
        switch reason {
        case .kernel(let e, _): e
        case .system(let s): s.errno
        default: nil
        }
    }

    public var description: String {
        let head = "netlink \(operation) in netns \(namespace) failed: "
        switch reason {
        case .kernel(let e, let message):
            return head + String(cString: strerror(e)) + " (errno \(e))" + (message.map { ": \($0)" } ?? "")
        case .dumpInterrupted(let n):
            return head + "the dump was interrupted by concurrent changes \(n) times in a row; try again when the namespace is quieter"
        case .unexpectedSequence(let expected, let received):
            return head + "a reply carried sequence number \(received), expected \(expected)"
        case .unexpectedPort(let expected, let received):
            return head + "a reply was addressed to port \(received), this socket is port \(expected)"
        case .overrun:
            return head + "the kernel reported a receive buffer overrun; messages were lost"
        case .decode(let d):
            return head + "the reply did not decode: \(d)"
        case .system(let s):
            return head + s.description
        }
    }
}

import Foundation
import Namespaces

/// What the operator asked to capture at one hop, before it is resolved to a Linux interface.
public struct HopRequest: Sendable, Hashable {
    /// An interface or OVS port name.
    public var name: String
    /// The namespace given after `@` (for an OVS port: where its ovs-vswitchd runs).
    public var namespace: NamespaceRef
    /// Capture through an OVS mirror even when a Linux device of that name is in reach.
    public var forceMirror: Bool

    public init(name: String, namespace: NamespaceRef, forceMirror: Bool = false) {
        self.name = name
        self.namespace = namespace
        self.forceMirror = forceMirror
    }

    /// Parses `IF[@NETNS]`.
    public init(parsing text: String, forceMirror: Bool = false) throws {
        let point = try CapturePoint(parsing: text)
        self.init(name: point.interface, namespace: point.namespace, forceMirror: forceMirror)
    }
}

/// A hop name that is neither a Linux device in its namespace nor an OVS port there.
public struct HopNotFoundError: Error, CustomStringConvertible {
    public var request: HopRequest
    public var ovsProblem: String?
    public var description: String {
        let ns = request.namespace.description
        var text = "\(request.name) is not an interface in netns \(ns)"
        if let ovsProblem { text += ", and not an OVS port there (\(ovsProblem))" } else { text += " nor an OVS port there" }
        return text + "; list interfaces with `ip -n \(ns) link` and ports with `ovs-vsctl show`"
    }
}

/// A capture run as the `capture` command performs it: replays journals of crashed runs, turns
/// each requested hop into a capture point (directly, or through a temporary OVS mirror), runs a
/// `CaptureSession`, and removes every mirror again whatever happens.
///
/// Ownership: owns the cleanup journal of this run. Concurrency: `start` and `finish` are called
/// by one task; `stop()` from any thread (a signal handler's queue).
public final class CaptureRun: @unchecked Sendable {
    public let journal: CleanupJournal
    /// Journals of earlier runs that were replayed before this one started.
    public let replayed: CleanupReport
    public private(set) var mirrors: [OVSMirror] = []
    public private(set) var session: CaptureSession?
    private let lock = NSLock()
    private var stopRequested = false

    /// Replays abandoned journals in `journalDirectory` and opens this run's own journal.
    public init(journalDirectory: String = CleanupJournal.defaultDirectory) async throws {
        replayed = await CleanupJournal.replayAbandoned(directory: journalDirectory)
        journal = try CleanupJournal(directory: journalDirectory, purpose: "hopscope capture")
    }

    /// Resolves every request (creating mirrors where needed) and starts capturing. `configure`
    /// receives the resolved points and returns the session configuration. On failure, mirrors
    /// made so far are removed before the error is thrown.
    public func start(_ requests: [HopRequest], mirrorPrefix: String = "hscap-",
                      configure: ([CapturePoint]) -> CaptureConfiguration) async throws {
        do {
            var points: [CapturePoint] = []
            for request in requests {
                points.append(try await resolve(request, mirrorPrefix: mirrorPrefix))
            }
            var configuration = configure(points)
            configuration.journal = journal
            let session = try CaptureSession(configuration)
            let stopNow = lock.withLock { () -> Bool in
                self.session = session
                return stopRequested
            }
            if stopNow { session.stop() }
        } catch {
            await journal.undoAll()
            throw error
        }
    }

    /// Stops the session (or, when it is still starting, makes it stop as soon as it started).
    public func stop() {
        let current = lock.withLock { () -> CaptureSession? in
            stopRequested = true
            return session
        }
        current?.stop()
    }

    /// Waits for the session to end, writes its files, then removes the mirrors and whatever else
    /// the journal holds. Cleanup failures are returned (and stay journaled for `hopscope cleanup`).
    public func finish() async throws -> (result: CaptureResult, cleanup: CleanupReport) {
        guard let session else { preconditionFailure("finish() before a successful start()") }
        do {
            let result = try await session.finish()
            return (result, await journal.undoAll())
        } catch {
            await journal.undoAll()
            throw error
        }
    }

    /// Turns one request into a capture point: the Linux device itself when it exists in the
    /// namespace (and no mirror was asked for), else a mirror of the OVS port of that name.
    func resolve(_ request: HopRequest, mirrorPrefix: String) async throws -> CapturePoint {
        if !request.forceMirror, try deviceExists(request.name, in: request.namespace) {
            return CapturePoint(interface: request.name, namespace: request.namespace)
        }
        let instance: OVSInstance
        do {
            instance = try OVSInstance.find(in: request.namespace)
        } catch let e as OVSLookupError {
            throw HopNotFoundError(request: request, ovsProblem: e.reason)
        }
        guard let port = try await instance.port(named: request.name) else {
            throw HopNotFoundError(request: request, ovsProblem: nil)
        }
        let mirror = try await OVSMirror.create(for: port, on: instance, journal: journal, prefix: mirrorPrefix)
        mirrors.append(mirror)
        return mirror.capturePoint
    }
}

/// True when a network device called `name` exists in `namespace`. Wraps `if_nametoindex`, run
/// inside the namespace (it asks the kernel through a socket of the calling thread's namespace).
public func deviceExists(_ name: String, in namespace: NamespaceRef) throws -> Bool {
    try inNetworkNamespace(namespace) { if_nametoindex(name) != 0 }
}

import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The outcome of one external command: its argument vector, exit status and output.
public struct CommandResult: Sendable {
    public var argv: [String]
    /// The exit code, or 128 + signal number when a signal ended it (shell convention).
    public var exitCode: Int32
    public var standardOutput: String
    public var standardError: String
    public var succeeded: Bool { exitCode == 0 }
}

/// An external command that failed, did not start, or ran past its deadline. The message names
/// the command line, the namespace and what the command printed on stderr.
public struct CommandError: Error, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        case exited(Int32)
        case timedOut(Duration)
        case couldNotStart(String)
    }
    public var argv: [String]
    public var namespace: String?
    public var reason: Reason
    public var standardError: String

    public var description: String {
        let cmd = argv.joined(separator: " ")
        let where_ = namespace.map { " in netns \($0)" } ?? ""
        let err = standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        switch reason {
        case .exited(let code):
            return "`\(cmd)`\(where_) exited with status \(code)" + (err.isEmpty ? "" : ": \(err)")
        case .timedOut(let d):
            return "`\(cmd)`\(where_) did not finish within \(d) and was stopped"
        case .couldNotStart(let why):
            return "`\(cmd)`\(where_) could not start: \(why)"
        }
    }
}

/// Runs programs such as `ovs-ofctl`, `iptables-save` and `ip` with an argument vector (never a
/// shell), optionally inside a network namespace, with a deadline.
///
/// A named namespace is entered with `ip netns exec NAME` (which also bind-mounts
/// /etc/netns/NAME files and remounts /sys, as operators expect); a namespace known only by a
/// process or path with `nsenter --net=PATH`. Output is collected up to `outputLimit` bytes.
/// Concurrency: safe to call from any task; each call spawns its own process.
public enum HostCommand {
    /// Default cap on collected output: large enough for a 50,000-flow dump.
    public static let defaultOutputLimit = 256 << 20

    /// The argument vector that runs `argv` inside `ns`.
    public static func wrapped(_ argv: [String], in ns: NamespaceRef) -> [String] {
        switch ns {
        case .current: return argv
        case .named(let name): return ["ip", "netns", "exec", name] + argv
        case .process, .path: return ["nsenter", "--net=\(ns.path!)", "--"] + argv
        }
    }

    /// Runs `argv` and returns its result. When `check` is true (the default) a non-zero exit
    /// throws `CommandError`; a deadline overrun always throws, after the process is stopped
    /// (SIGTERM, then SIGKILL 2 s later).
    @discardableResult
    public static func run(
        _ argv: [String],
        in ns: NamespaceRef = .current,
        input: String? = nil,
        environment: [String: String] = [:],
        timeout: Duration = .seconds(60),
        outputLimit: Int = defaultOutputLimit,
        check: Bool = true
    ) async throws -> CommandResult {
        precondition(!argv.isEmpty, "HostCommand.run needs a program name")
        let full = wrapped(argv, in: ns)
        let nsLabel: String? = ns == .current ? nil : ns.description
        var updates: [Environment.Key: String?] = [:]
        for (k, v) in environment { updates[Environment.Key(stringLiteral: k)] = v }
        let env: Environment = updates.isEmpty ? .inherit : .inherit.updating(updates)
        let options: PlatformOptions = {
            var o = PlatformOptions()
            o.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
            return o
        }()
        // A path is run as is; a bare name is looked up in PATH.
        let executable = full[0].contains("/") ? Executable.path(FilePath(full[0])) : Executable.name(full[0])
        let arguments = Arguments(Array(full.dropFirst()))

        let outcome: CommandResult = try await withThrowingTaskGroup(of: CommandResult?.self) { group in
            group.addTask {
                do {
                    // Output is collected as bytes and decoded once: swift-subprocess's string output
                    // decodes byte by byte through generic code, ~50x slower on a 10 MB flow dump.
                    let r: ExecutionResult<Void, BytesOutput, BytesOutput>
                    if let input {
                        r = try await Subprocess.run(
                            executable, arguments: arguments, environment: env, platformOptions: options,
                            input: .string(input), output: .bytes(limit: outputLimit), error: .bytes(limit: 1 << 20))
                    } else {
                        r = try await Subprocess.run(
                            executable, arguments: arguments, environment: env, platformOptions: options,
                            input: .none, output: .bytes(limit: outputLimit), error: .bytes(limit: 1 << 20))
                    }
                    let code: Int32
                    switch r.terminationStatus {
                    case .exited(let c): code = c
                    case .signaled(let s): code = 128 + s
                    }
                    return CommandResult(argv: full, exitCode: code,
                                         standardOutput: String(decoding: r.standardOutput, as: UTF8.self),
                                         standardError: String(decoding: r.standardError, as: UTF8.self))
                } catch is CancellationError {
                    return nil
                } catch {
                    if Task.isCancelled { return nil }
                    throw CommandError(argv: full, namespace: nsLabel, reason: .couldNotStart("\(error)"), standardError: "")
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            guard let result = first else {
                throw CommandError(argv: full, namespace: nsLabel, reason: .timedOut(timeout), standardError: "")
            }
            return result
        }
        if check && !outcome.succeeded {
            throw CommandError(argv: full, namespace: nsLabel, reason: .exited(outcome.exitCode),
                               standardError: outcome.standardError)
        }
        return outcome
    }
}

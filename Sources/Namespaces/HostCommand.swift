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
        let launch = Launch(argv, in: ns, environment: environment)
        let (full, env, options, executable, arguments) = (launch.full, launch.environment, launch.options, launch.executable, launch.arguments)
        return try await launch.finish(check: check, timeout: timeout) {
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
            return CommandResult(argv: full, exitCode: r.terminationStatus.exitCode,
                                 standardOutput: String(decoding: r.standardOutput, as: UTF8.self),
                                 standardError: String(decoding: r.standardError, as: UTF8.self))
        }
    }

    /// Runs `argv` like `run`, but hands standard output to `consume` chunk by chunk as the program
    /// writes it, so the caller can work on the first lines while the program still prints the
    /// rest. The result's `standardOutput` is empty (the caller kept what it needed). Deadline,
    /// exit status and start failures are handled as in `run`.
    ///
    /// `consume` runs on one task at a time, in output order, and not after this returns.
    @discardableResult
    public static func stream(
        _ argv: [String],
        in ns: NamespaceRef = .current,
        environment: [String: String] = [:],
        timeout: Duration = .seconds(60),
        check: Bool = true,
        consume: @escaping @Sendable (UnsafeRawBufferPointer) -> Void
    ) async throws -> CommandResult {
        let launch = Launch(argv, in: ns, environment: environment)
        return try await launch.finish(check: check, timeout: timeout) {
            let r = try await Subprocess.run(
                launch.executable, arguments: launch.arguments, environment: launch.environment, platformOptions: launch.options,
                input: .none, output: .sequence, error: .bytes(limit: 1 << 20)
            ) { execution in
                for try await chunk in execution.standardOutput { chunk.withUnsafeBytes { consume($0) } }
            }
            return CommandResult(argv: launch.full, exitCode: r.terminationStatus.exitCode, standardOutput: "",
                                 standardError: String(decoding: r.standardError, as: UTF8.self))
        }
    }

    /// What every run needs: the wrapped argument vector, environment, teardown and the
    /// deadline race, shared by `run` and `stream`.
    private struct Launch: Sendable {
        let full: [String]
        let namespace: String?
        let environment: Environment
        let options: PlatformOptions
        let executable: Executable
        let arguments: Arguments

        init(_ argv: [String], in ns: NamespaceRef, environment: [String: String]) {
            precondition(!argv.isEmpty, "HostCommand.run needs a program name")
            full = HostCommand.wrapped(argv, in: ns)
            namespace = ns == .current ? nil : ns.description
            var updates: [Environment.Key: String?] = [:]
            for (k, v) in environment { updates[Environment.Key(stringLiteral: k)] = v }
            self.environment = updates.isEmpty ? .inherit : .inherit.updating(updates)
            var o = PlatformOptions()
            o.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
            options = o
            // A path is run as is; a bare name is looked up in PATH.
            executable = full[0].contains("/") ? Executable.path(FilePath(full[0])) : Executable.name(full[0])
            arguments = Arguments(Array(full.dropFirst()))
        }

        func error(_ reason: CommandError.Reason, standardError: String = "") -> CommandError {
            CommandError(argv: full, namespace: namespace, reason: reason, standardError: standardError)
        }

        /// Races `body` against `timeout`, then checks the exit status. An error from `body` means
        /// the program could not start.
        func finish(check: Bool, timeout: Duration, _ body: @escaping @Sendable () async throws -> CommandResult) async throws -> CommandResult {
            let outcome: CommandResult = try await withThrowingTaskGroup(of: CommandResult?.self) { group in
                group.addTask {
                    do {
                        return try await body()
                    } catch is CancellationError {
                        return nil
                    } catch {
                        if Task.isCancelled { return nil }
                        throw self.error(.couldNotStart("\(error)"))
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                guard let result = first else { throw error(.timedOut(timeout)) }
                return result
            }
            if check && !outcome.succeeded { throw error(.exited(outcome.exitCode), standardError: outcome.standardError) }
            return outcome
        }
    }
}

extension TerminationStatus {
    /// The exit code, or 128 + signal number (shell convention).
    var exitCode: Int32 {
        switch self {
        case .exited(let c): c
        case .signaled(let s): 128 + s
        }
    }
}

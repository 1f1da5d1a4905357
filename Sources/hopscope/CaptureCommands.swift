import ArgumentParser
import Capture
import Foundation
import Namespaces

extension CommandGroups {
    static var capture: [any ParsableCommand.Type] { [CaptureCommand.self, CleanupCommand.self] }
}

/// `hopscope capture`: tcpdump on several hops at once, in every namespace, OVS ports included.
struct CaptureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Capture on several hops at once, in any namespace, and follow each packet across them.",
        discussion: """
            Give the hops in path order, from the sender: --on tap1@compute1 --on ovs:qvo1@compute1 \
            --on qr-1@qrouter-1 --on qg-1@qrouter-1. A name that is not a Linux interface in that \
            namespace but an OVS port of the ovs-vswitchd running there is captured through a temporary \
            OVS mirror to a veth pair; `ovs:PORT@NETNS` asks for a mirror even when a device of that \
            name exists. Mirrors are always removed, after Ctrl-C too; after a crash, run \
            `hopscope cleanup`.

            The filter applies to each hop's outer headers: on a VXLAN underlay, add \
            `or udp port 4789` to see tunnelled packets (they are followed by their inner packet).

            Files: one pcap per hop and all-hops.pcapng (one interface per hop, named IF@NETNS), mode \
            0600, under captures/<UTC time>-<label>/ unless --output-dir says otherwise. Stops after \
            --duration, when every hop has --count packets, or on Ctrl-C.

            At the end, each packet is followed across the hops (matched by IP id, ICMP sequence, TCP \
            sequence and a payload digest, so NAT and VXLAN/GRE/Geneve do not hide it): a timeline with \
            the time between hops, and for each packet that did not reach the end of the path, the \
            last hop that saw it.

            Exit status: 0 every packet followed arrived and nothing was dropped, 1 a packet stopped \
            before the end of the path or the capture dropped packets, 2 usage or runtime error.
            """)

    @Option(name: .long, help: ArgumentHelp("A hop: IF[@NETNS], or ovs:PORT@NETNS for a mirror. Repeat, in path order.", valueName: "hop"))
    var on: [String] = []

    @Option(name: [.customShort("f"), .long], help: ArgumentHelp("A BPF filter in tcpdump syntax, for every hop.", valueName: "bpf"))
    var filter: String?

    @Option(name: [.customShort("d"), .long], help: ArgumentHelp("Stop after this long: 10s, 500ms, 2m.", valueName: "time"))
    var duration: String?

    @Option(name: [.customShort("c"), .long], help: ArgumentHelp("Stop each hop after this many packets.", valueName: "n"))
    var count: Int?

    @Option(name: .long, help: ArgumentHelp("Stop a hop when its file reaches this size: 500k, 100M, 2G.", valueName: "size"))
    var maxSize: String?

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write the files here instead of captures/<UTC time>-<label>/.", valueName: "dir"))
    var outputDir: String?

    @Option(name: .long, help: "A word for the default directory name (default: the hop names).")
    var label: String?

    @Option(name: [.customShort("s"), .long], help: "Bytes kept of each packet.")
    var snaplen: Int32 = 262_144

    @Option(name: [.customShort("B"), .long], help: ArgumentHelp("Kernel buffer per hop: 32M by default (tcpdump uses 2M).", valueName: "size"))
    var bufferSize: String = "32M"

    @Flag(name: .long, help: "Hand each packet over as it arrives (lower latency, more CPU at high rates).")
    var immediate = false

    @Flag(name: [.customShort("j"), .long], help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if on.isEmpty { throw ValidationError("name at least one hop with --on IF[@NETNS]") }
        if let count, count <= 0 { throw ValidationError("--count must be a positive number of packets") }
        if let duration, parseDuration(duration) == nil { throw ValidationError("--duration \(duration): write a time such as 10s, 500ms or 2m") }
        if let maxSize, parseSize(maxSize) == nil { throw ValidationError("--max-size \(maxSize): write a size such as 500k, 100M or 2G") }
        guard let buffer = parseSize(bufferSize), buffer >= 65536, buffer <= Int(Int32.max) else {
            throw ValidationError("--buffer-size \(bufferSize): write a size between 64k and 2G")
        }
        if snaplen < 64 { throw ValidationError("--snaplen must be at least 64 bytes to keep the headers") }
        for hop in on { _ = try hopRequest(hop) }
    }

    /// `ovs:PORT@NETNS` forces a mirror; anything else is `IF[@NETNS]`.
    func hopRequest(_ text: String) throws -> HopRequest {
        do {
            if text.hasPrefix("ovs:") { return try HopRequest(parsing: String(text.dropFirst(4)), forceMirror: true) }
            return try HopRequest(parsing: text)
        } catch {
            throw ValidationError("--on \(error)")
        }
    }

    func run() async throws {
        do {
            try await capture()
        } catch let e as ExitCode {
            throw e
        } catch {
            warn("error: \(error)")
            throw ExitCode(2)
        }
    }

    func capture() async throws {
        let requests = try on.map(hopRequest)
        let directory = outputDir ?? defaultDirectory(requests)
        let run = try await CaptureRun()
        for failure in run.replayed.failures { warn("cleanup of an earlier run: \(failure)") }
        if !run.replayed.undone.isEmpty {
            warn("removed \(run.replayed.undone.count) leftover(s) of an earlier run that did not finish: " +
                 run.replayed.undone.map(\.note).joined(separator: "; "))
        }
        let signals = installStopSignals { run.stop() }
        defer { signals.forEach { $0.cancel() } }

        try await run.start(requests) { points in
            CaptureConfiguration(
                points: points,
                options: LiveCaptureOptions(snapshotLength: snaplen, bufferSize: Int32(parseSize(bufferSize)!),
                                            immediate: immediate, filter: filter),
                packetLimitPerHop: count, fileSizeLimitPerHop: maxSize.flatMap(parseSize),
                duration: duration.flatMap(parseDuration), outputDirectory: directory)
        }
        for mirror in run.mirrors {
            warn("capturing \(mirror.port.name) through temporary OVS mirror \(mirror.name) on \(mirror.port.bridge) (veth \(mirror.captureEnd))")
            if let caveat = mirror.caveat { warn(caveat) }
        }
        let view = LiveView(enabled: isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb")
        let viewTask = Task { [session = run.session!] in
            if !view.enabled {
                warn("capturing on \(session.configuration.points.map(\.label).joined(separator: ", ")); Ctrl-C to stop")
                return
            }
            while !Task.isCancelled && !session.isFinished {
                view.draw(session.progress())
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        let (result, cleanup) = try await run.finish()
        viewTask.cancel()
        _ = await viewTask.value
        view.clear()
        for failure in cleanup.failures { warn("\(failure); run `hopscope cleanup` to retry") }

        var timeline: PacketTimeline?
        if result.hops.count > 1 {
            timeline = try PacketCorrelator.timeline(of: result.hops.compactMap { hop in
                hop.file.map { (hop.point.label, $0, hop.progress.packets) }
            })
        }
        let report = CaptureReport(result: result, directory: directory, mirrors: run.mirrors, cleanupFailures: cleanup.failures,
                                   timeline: timeline)
        if json {
            print(try report.json())
        } else {
            print(report.text(colour: useColour()))
        }
        if report.problemFound { throw ExitCode(1) }
    }

    /// captures/<UTC time>-<label>, relative to the working directory.
    func defaultDirectory(_ requests: [HopRequest]) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let words = label ?? requests.map(\.name).joined(separator: "+")
        let safe = String(words.map { $0.isLetter || $0.isNumber || "-_+.".contains($0) ? $0 : "_" }.prefix(60))
        return "captures/\(formatter.string(from: Date()))-\(safe)"
    }
}

/// `hopscope cleanup`: removes what crashed or killed Hopscope runs left behind.
struct CleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Remove mirrors, veth pairs, namespaces and partial files left by Hopscope runs that did not finish.",
        discussion: """
            Every active Hopscope operation journals what it creates under /run/hopscope/cleanup \
            (or $HOPSCOPE_STATE_DIR/cleanup) before creating it. This replays the journals of runs \
            whose process is gone; each capture run also does so when it starts.

            Exit status: 0 everything removed, 2 something could not be removed (it stays journaled).
            """)

    @Flag(name: .long, help: "Also undo journals of Hopscope processes that are still running.")
    var includeRunning = false

    @Flag(name: [.customShort("j"), .long], help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        let report = await CleanupJournal.replayAbandoned(includingLiveOwners: includeRunning)
        if json {
            struct Output: Encodable {
                var removed: [String]
                var failed: [String]
                var journalsInUse: [String]
            }
            let out = Output(removed: report.undone.map { "\($0.action) (\($0.note))" }, failed: report.failures.map(\.description),
                             journalsInUse: report.journalsInUse)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(out), as: UTF8.self))
        } else {
            for entry in report.undone { print("removed: \(entry.note) (\(entry.action))") }
            for failure in report.failures { print("FAILED: \(failure)") }
            for path in report.journalsInUse { print("in use by a running Hopscope, left alone: \(path) (--include-running to undo it anyway)") }
            if report.undone.isEmpty && report.failures.isEmpty { print("nothing to clean up") }
        }
        if !report.failures.isEmpty { throw ExitCode(2) }
    }
}

// MARK: - helpers

/// Prints a note for the operator on stderr.
func warn(_ text: String) {
    FileHandle.standardError.write(Data("hopscope: \(text)\n".utf8))
}

/// Colour only on a terminal, never with NO_COLOR.
func useColour() -> Bool {
    isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
}

/// Routes SIGINT, SIGTERM and SIGHUP to `stop` instead of ending the process, so that mirrors
/// and files are cleaned up. A second signal during cleanup is ignored on purpose.
func installStopSignals(_ stop: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM, SIGHUP].map { sig in
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler(handler: stop)
        source.resume()
        return source
    }
}

/// Parses 10s, 500ms, 2m, 1h or plain seconds.
func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("", 1)]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        guard let value = Double(text.dropLast(suffix.count)), value > 0 else { continue }
        return .milliseconds(Int64(value * factor * 1000))
    }
    return nil
}

/// Parses 500k, 100M, 2G (powers of 1024) or plain bytes.
func parseSize(_ text: String) -> Int? {
    let units: [(String, Int)] = [("k", 1 << 10), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("", 1)]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        guard let value = Double(text.dropLast(suffix.count)), value > 0 else { continue }
        return Int(value * Double(factor))
    }
    return nil
}

import Foundation
@testable import Namespaces
import Testing

@Suite struct CleanupJournalTests {
    func scratchDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "hscap-journal-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func touch(_ path: String) { _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8)) }

    @Test func ownerUndoesNewestFirstAndRemovesTheJournal() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try CleanupJournal(directory: dir, purpose: "test")
        let log = dir + "/order.log"
        // Each undo appends its name to a log, which shows the order.
        for name in ["first", "second", "third"] {
            try journal.record(.run(argv: ["sh", "-c", "echo \(name) >> \(log)"], namespace: nil, environment: [:], alreadyUndoneWhen: nil),
                               note: name)
        }
        #expect(FileManager.default.fileExists(atPath: journal.path))
        let report = await journal.undoAll()
        #expect(report.failures.isEmpty)
        #expect(report.undone.map(\.note) == ["third", "second", "first"])
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "third\nsecond\nfirst\n")
        #expect(!FileManager.default.fileExists(atPath: journal.path))
    }

    @Test func replayUndoesJournalsOfDeadOwnersOnlyAndKeepsWhatFailed() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let leftover = dir + "/half-written.pcap.partial"
        touch(leftover)
        // A journal whose owner died (no process can have PID Int32.max).
        let dead = CleanupJournalFile(ownerPID: Int32.max, ownerStartTime: 1, purpose: "crashed capture", entries: [
            CleanupEntry(id: UUID(), action: .removeFile(path: leftover), note: "partial capture", recorded: Date()),
            CleanupEntry(id: UUID(), action: .run(argv: ["false"], namespace: nil, environment: [:], alreadyUndoneWhen: nil),
                         note: "an undo that fails", recorded: Date()),
            CleanupEntry(id: UUID(), action: .run(argv: ["sh", "-c", "echo 'no row \"m\" in table Mirror' >&2; exit 1"], namespace: nil,
                                                  environment: [:], alreadyUndoneWhen: "no row \"m\" in table Mirror"),
                         note: "a mirror already gone", recorded: Date()),
        ])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(dead).write(to: URL(fileURLWithPath: dir + "/1-dead.json"))
        // A journal of a live owner (this test process's parent) is left alone.
        let parent = getppid()
        let live = CleanupJournalFile(ownerPID: parent, ownerStartTime: try #require(processStartTime(parent)), purpose: "running", entries: [
            CleanupEntry(id: UUID(), action: .removeFile(path: dir + "/keep"), note: "in use", recorded: Date()),
        ])
        try encoder.encode(live).write(to: URL(fileURLWithPath: dir + "/2-live.json"))
        touch(dir + "/keep")

        let report = await CleanupJournal.replayAbandoned(directory: dir)
        #expect(!FileManager.default.fileExists(atPath: leftover))
        #expect(FileManager.default.fileExists(atPath: dir + "/keep"))
        #expect(report.undone.map(\.note) == ["a mirror already gone", "partial capture"])
        #expect(report.failures.map(\.entry.note) == ["an undo that fails"])
        #expect(report.journalsInUse == [dir + "/2-live.json"])
        // The failed entry stays for the next replay; the done ones are gone from the file.
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let remaining = try decoder.decode(CleanupJournalFile.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/1-dead.json")))
        #expect(remaining.entries.map(\.note) == ["an undo that fails"])
    }

    @Test func startTimeIdentifiesARunningProcess() throws {
        #expect(processStartTime(getpid()) != nil)
        #expect(processStartTime(Int32.max) == nil)
    }
}

import Foundation
import Namespaces

/// A file written under a hidden temporary name beside its final path, mode 0600, and renamed
/// into place only when complete, so that an error or a crash never leaves a half-written file
/// under the final name.
///
/// Ownership: the object owns its stdio stream until `commit` or `abandon`; if neither happened
/// by deinit, the temporary file is removed. Not thread-safe: one writer at a time.
public final class AtomicOutputFile {
    /// Where the file appears once committed.
    public let finalPath: String
    /// Where it is written meanwhile (`.NAME.partial` in the same directory, so rename is atomic).
    public let temporaryPath: String
    /// The open stream; nil after commit or abandon.
    public private(set) var stream: UnsafeMutablePointer<FILE>?

    /// The hidden name a file is written under until it is committed.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".partial").path
    }

    /// Creates the temporary file (exclusively, mode 0600) with a large stdio buffer for fast
    /// sequential writes. Throws `SystemCallError` naming the path when it cannot be created.
    public init(path: String, bufferSize: Int = 1 << 20) throws {
        finalPath = path
        temporaryPath = Self.temporaryPath(for: path)
        let fd = try systemCall("open \(temporaryPath)") {
            open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        }
        guard let f = fdopen(fd, "wb") else {
            let e = errno
            close(fd)
            unlink(temporaryPath)
            throw SystemCallError(operation: "fdopen \(temporaryPath)", errno: e)
        }
        setvbuf(f, nil, _IOFBF, bufferSize)
        stream = f
    }

    /// Writes raw bytes. Throws `SystemCallError` (for example ENOSPC) when stdio reports an error.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let f = stream, bytes.count > 0 else { return }
        if fwrite(bytes.baseAddress, 1, bytes.count, f) != bytes.count {
            throw SystemCallError(operation: "write \(temporaryPath)", errno: errno)
        }
    }

    /// Flushes, syncs and closes the stream (with `closeStream`, for owners such as a pcap dumper
    /// that close it themselves), then renames the file to its final path.
    public func commit(closeStream: (UnsafeMutablePointer<FILE>) -> Void = { fclose($0) }) throws {
        guard let f = stream else { return }
        stream = nil
        var failure: SystemCallError?
        if fflush(f) != 0 { failure = SystemCallError(operation: "write \(temporaryPath)", errno: errno) }
        if failure == nil, fsync(fileno(f)) != 0 { failure = SystemCallError(operation: "fsync \(temporaryPath)", errno: errno) }
        closeStream(f)
        if let failure {
            unlink(temporaryPath)
            throw failure
        }
        do {
            try systemCall("rename \(temporaryPath) to \(finalPath)") { rename(temporaryPath, finalPath) }
        } catch {
            unlink(temporaryPath)
            throw error
        }
    }

    /// Closes and removes the temporary file; the final path is never touched.
    public func abandon(closeStream: (UnsafeMutablePointer<FILE>) -> Void = { fclose($0) }) {
        guard let f = stream else { return }
        stream = nil
        closeStream(f)
        unlink(temporaryPath)
    }

    deinit {
        abandon()
    }
}

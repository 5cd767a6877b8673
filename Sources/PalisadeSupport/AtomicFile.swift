// Platform calls go through the C library of the platform this is built on; Windows has its
// own implementation below (AtomicFile+Windows), built only there.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if !os(Windows)
/// Permission bits of a new file (ignored on Windows, where the directory's ACL decides).
public typealias FileMode = mode_t

/// Writes files so that readers see either the old or the new content, never a half-written
/// one: a temporary file beside the target, fsync, rename over it, fsync the directory.
///
/// The temporary file has an unpredictable name (64 random bits) and is opened with
/// `O_CREAT | O_EXCL | O_NOFOLLOW`: whoever can write to the directory cannot make the write
/// land elsewhere by planting a symlink or a file at the temporary name, and the new file has
/// exactly `mode` from its creation on (never more than `mode`, whatever the umask).
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public var path: String
        public var operation: String
        public var errno: Int32

        public var description: String {
            "cannot \(operation) \(path): \(String(cString: strerror(errno)))"
        }
    }

    /// Whether a write is synced to disk (the file, then its directory) before it returns.
    /// Exists only for the load simulator, which turns it off for its virtual devices'
    /// temporary directories: ten thousand devices syncing on one disk would measure the disk,
    /// where real devices each sync on their own. A task-local, so nothing else in the process
    /// is affected; SPI, so that only code that opts in to `Simulation` can reach it.
    @_spi(Simulation) @TaskLocal public static var syncsToDisk = true

    public static func write(_ data: some Collection<UInt8>, to path: String, mode: FileMode) throws {
        let bytes = Array(data)
        // A name taken already (a collision, or something planted) is never reused: try another.
        var attempts = 0
        while true {
            do {
                try write(bytes, to: path, mode: mode, temporaryPath: temporaryPath(for: path))
                return
            } catch let error as WriteError where error.errno == EEXIST && error.operation == "create" && attempts < 4 {
                attempts += 1
            }
        }
    }

    /// `path` plus a random suffix; a different name on every call.
    static func temporaryPath(for path: String) -> String {
        let random = UInt64.random(in: .min ... .max)
        let hex = String(random, radix: 16)
        return path + ".palisade-tmp-" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// One attempt through `temporaryPath`, which must not exist.
    static func write(_ bytes: [UInt8], to path: String, mode: mode_t, temporaryPath temporary: String) throws {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw WriteError(path: temporary, operation: "create", errno: errno) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0, errno == EINTR { continue }
            if written <= 0 {
                let code = errno
                close(fd)
                unlink(temporary)
                throw WriteError(path: temporary, operation: "write", errno: code)
            }
            offset += written
        }
        // The umask may have narrowed the mode given to open().
        fchmod(fd, mode)
        let syncs = syncsToDisk
        if syncs, fsync(fd) != 0 {
            let code = errno
            close(fd)
            unlink(temporary)
            throw WriteError(path: temporary, operation: "fsync", errno: code)
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw WriteError(path: path, operation: "rename onto", errno: code)
        }
        if syncs { syncDirectory(of: path) }
    }

    /// Makes the rename durable.
    private static func syncDirectory(of path: String) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// Removes a file; succeeds when it does not exist.
    public static func remove(_ path: String) throws {
        if unlink(path) != 0, errno != ENOENT {
            throw WriteError(path: path, operation: "remove", errno: errno)
        }
    }

    /// Creates a directory and its parents with the given mode.
    public static func createDirectory(_ path: String, mode: FileMode = 0o755) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0, errno != EEXIST {
                throw WriteError(path: current, operation: "create directory", errno: errno)
            }
        }
    }

    public static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress!, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count < 0 { return nil }
            if count == 0 { return result }
            result.append(contentsOf: buffer[0..<count])
        }
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}

// `write` and `read` are also names in scope inside AtomicFile; these reach the C library's.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    Musl.write(fd, buffer, count)
    #else
    Darwin.write(fd, buffer, count)
    #endif
}

private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(fd, buffer, count)
    #elseif canImport(Musl)
    Musl.read(fd, buffer, count)
    #else
    Darwin.read(fd, buffer, count)
    #endif
}
#endif

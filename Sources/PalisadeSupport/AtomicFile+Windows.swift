#if os(Windows)
import Foundation
import WinSDK

/// Permission bits of a new file: ignored on Windows, where the directory's ACL decides (the
/// install commands give the state directory to SYSTEM and Administrators only).
public typealias FileMode = UInt16

/// Windows: the same contract as on POSIX (readers see the old or the new content, never a
/// half-written one) through a temporary file beside the target and `MoveFileExW` with
/// `MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH`. Written for Windows, not yet built
/// there (see README).
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public var path: String
        public var operation: String
        public var code: UInt32

        public var description: String { "cannot \(operation) \(path) (Win32 error \(code))" }
    }

    /// As on POSIX: off only in the load simulator (the move is then not written through);
    /// SPI, for the simulator alone.
    @_spi(Simulation) @TaskLocal public static var syncsToDisk = true

    public static func write(_ data: some Collection<UInt8>, to path: String, mode: FileMode) throws {
        let random = UInt64.random(in: .min ... .max)
        let temporary = path + ".palisade-tmp-" + String(random, radix: 16)
        guard FileManager.default.createFile(atPath: temporary, contents: Data(data)) else {
            throw WriteError(path: temporary, operation: "create", code: GetLastError())
        }
        let moved = temporary.withCString(encodedAs: UTF16.self) { from in
            path.withCString(encodedAs: UTF16.self) { to in
                MoveFileExW(from, to, DWORD(syncsToDisk ? MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH : MOVEFILE_REPLACE_EXISTING))
            }
        }
        guard moved else {
            let code = GetLastError()
            try? FileManager.default.removeItem(atPath: temporary)
            throw WriteError(path: path, operation: "rename onto", code: code)
        }
    }

    public static func remove(_ path: String) throws {
        guard exists(path) else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw WriteError(path: path, operation: "remove", code: GetLastError())
        }
    }

    public static func createDirectory(_ path: String, mode: FileMode = 0o755) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw WriteError(path: path, operation: "create directory", code: GetLastError())
        }
    }

    public static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map(Array.init)
    }

    public static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }
}
#endif

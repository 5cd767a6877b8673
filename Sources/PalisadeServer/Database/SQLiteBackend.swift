import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import SQLKit
import SQLiteKit

/// The embedded default: one SQLite file in WAL mode, one writer connection behind a lock,
/// and separate reader connections (WAL lets readers run beside the writer). Each read leases
/// a reader for itself, so that a snapshot transaction never mixes with another read.
///
/// The writer runs with `synchronous = FULL`: in WAL mode every commit is synced to disk before
/// it returns, so a report or a change the server acknowledged survives a power loss, not only
/// a crash of the process. Readers write nothing and keep `NORMAL`.
public final class SQLiteBackend: DatabaseBackend {
    public let kind = DatabaseKind.sqlite
    private let writer: SQLiteConnection
    private let readers: ConnectionPool<SQLiteConnection>
    private let allReaders: [SQLiteConnection]
    private let writeLock = AsyncLock()

    public static func open(path: String, readers readerCount: Int = 4, logger: Logger) async throws -> SQLiteBackend {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let writer = try await openConnection(path: path, synchronous: "FULL", logger: logger)
        var readers: [SQLiteConnection] = []
        for _ in 0..<max(1, readerCount) {
            readers.append(try await openConnection(path: path, synchronous: "NORMAL", logger: logger))
        }
        return SQLiteBackend(writer: writer, readers: readers)
    }

    private static func openConnection(path: String, synchronous: String, logger: Logger) async throws -> SQLiteConnection {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let sql = connection.sql()
        // Wait up to 5 s for another process's lock instead of failing at once.
        try await sql.raw("PRAGMA busy_timeout = 5000").run()
        try await sql.raw("PRAGMA journal_mode = WAL").run()
        try await sql.raw("PRAGMA synchronous = \(unsafeRaw: synchronous)").run()
        try await sql.raw("PRAGMA foreign_keys = ON").run()
        return connection
    }

    private init(writer: SQLiteConnection, readers: [SQLiteConnection]) {
        self.writer = writer
        self.readers = ConnectionPool(readers)
        self.allReaders = readers
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await readers.withConnection { reader in try await body(reader.sql()) }
    }

    public func readSnapshot<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        // A deferred transaction in WAL mode reads one snapshot from its first statement on.
        try await readers.withConnection { reader in try await reader.sql().transaction("BEGIN", body) }
    }

    public func write<T: Sendable>(lockKey: String, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await writeLock.withLock { try await self.writer.sql().transaction("BEGIN IMMEDIATE", body) }
    }

    public func announceConfigurationChanges(_ deviceIds: Set<String>, on sql: any SQLDatabase) async throws {}
    public func announceDeviceRecordChanges(_ deviceIds: Set<String>, on sql: any SQLDatabase) async throws {}

    /// The writer's `PRAGMA synchronous` (2 = FULL), for tests.
    public func writerSynchronousLevel() async throws -> Int {
        try await writeLock.withLock {
            try await self.writer.sql().raw("PRAGMA synchronous").first()?.decode(column: "synchronous", as: Int.self) ?? -1
        }
    }

    public func close() async throws {
        for reader in allReaders { try await reader.close() }
        try await writer.close()
    }
}

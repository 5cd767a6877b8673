import Foundation
import Logging
import SQLKit

/// Which SQL engine a store runs on. The SQL Palisade writes is the same for both; only
/// connection handling, locking and migration locking differ.
public enum DatabaseKind: String, Sendable {
    case sqlite
    case postgres
}

/// A SQL database with Palisade's concurrency rules: reads run concurrently; writes run in a
/// transaction, serialized per tenant, so that recomputed configurations never interleave.
public protocol DatabaseBackend: Sendable {
    var kind: DatabaseKind { get }

    /// Runs `body` outside any transaction, on a connection of its own, for reads.
    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T

    /// Runs `body` in a read-only transaction: every statement sees the same committed state.
    func readSnapshot<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T

    /// Runs `body` in a transaction holding the write lock of `lockKey` (a tenant id, or a
    /// global key). Rolled back when `body` throws.
    func write<T: Sendable>(lockKey: String, _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T

    /// Tells other replicas, on commit of the current transaction, which devices' configuration
    /// changed (PostgreSQL NOTIFY; nothing for the single-process SQLite store).
    func announceConfigurationChanges(_ deviceIds: Set<String>, on sql: any SQLDatabase) async throws

    func close() async throws
}

/// Where the store lives, from `--data-dir` and `--database`.
public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(url: String)

    /// `--database URL` wins; otherwise the embedded SQLite file in the data directory.
    public static func from(databaseURL: String?, dataDirectory: String?) throws -> DatabaseLocation {
        if let databaseURL {
            if databaseURL.hasPrefix("postgres://") || databaseURL.hasPrefix("postgresql://") {
                return .postgres(url: databaseURL)
            }
            if databaseURL.hasPrefix("sqlite://") {
                return .sqlite(path: String(databaseURL.dropFirst("sqlite://".count)))
            }
            throw StoreError.configuration("--database must be a postgres:// or sqlite:// URL, got \"\(databaseURL)\"")
        }
        guard let dataDirectory else {
            throw StoreError.configuration("give --data-dir (embedded SQLite) or --database postgres://...")
        }
        return .sqlite(path: URL(fileURLWithPath: dataDirectory).appendingPathComponent("palisade.sqlite").path)
    }
}

public enum StoreError: Error, CustomStringConvertible {
    case configuration(String)
    case corrupt(String)

    public var description: String {
        switch self {
        case .configuration(let message): "configuration error: \(message)"
        case .corrupt(let message): "stored data is unreadable: \(message)"
        }
    }
}

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
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T

    /// Runs `body` in a read-only transaction: every statement sees the same committed state.
    func readSnapshot<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T

    /// Runs `body` in a transaction holding the write lock of `lockKey` (a tenant id, or a
    /// global key). Rolled back when `body` throws.
    func write<T: Sendable>(lockKey: String, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T

    /// Tells other replicas, on commit of the current transaction, which devices' configuration
    /// changed (PostgreSQL NOTIFY; nothing for the single-process SQLite store).
    func announceConfigurationChanges(_ deviceIds: Set<String>, on sql: any SQLDatabase) async throws

    /// Tells other replicas, on commit, which devices' records (key, status, inventory)
    /// changed, so that they drop what they cached of them.
    func announceDeviceRecordChanges(_ deviceIds: Set<String>, on sql: any SQLDatabase) async throws

    func close() async throws
}

/// Where the store lives, from `--data-dir` and `--database`. Its description never shows a
/// PostgreSQL password.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    /// `password`, when given, replaces any password in the URL (it comes from
    /// `PALISADE_DATABASE_PASSWORD` or `--database-password-file`, so that it never shows in a
    /// process list).
    case postgres(url: String, password: String? = nil)

    /// `--database URL` wins; otherwise the embedded SQLite file in the data directory.
    public static func from(databaseURL: String?, dataDirectory: String?, databasePassword: String? = nil) throws -> DatabaseLocation {
        if let databaseURL {
            if databaseURL.hasPrefix("postgres://") || databaseURL.hasPrefix("postgresql://") {
                return .postgres(url: databaseURL, password: databasePassword)
            }
            if databaseURL.hasPrefix("sqlite://") {
                return .sqlite(path: String(databaseURL.dropFirst("sqlite://".count)))
            }
            throw StoreError.configuration("--database must be a postgres:// or sqlite:// URL, got \"\(Self.redacted(databaseURL))\"")
        }
        guard let dataDirectory else {
            throw StoreError.configuration("give --data-dir (embedded SQLite) or --database postgres://...")
        }
        return .sqlite(path: URL(fileURLWithPath: dataDirectory).appendingPathComponent("palisade.sqlite").path)
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        case .postgres(let url, _): Self.redacted(url)
        }
    }

    /// `url` with any password replaced by `***`, for messages and logs.
    public static func redacted(_ url: String) -> String {
        // scheme://user:password@host... : cut between the first ':' after "//" and the last '@'
        // of the authority, without trusting the URL to parse.
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// The PostgreSQL password from outside the URL, so that it never shows in a process list:
/// `--database-password-file FILE` (its first line) wins over `PALISADE_DATABASE_PASSWORD`;
/// nil leaves the URL's own password, if any.
public enum DatabasePassword {
    public static let environmentVariable = "PALISADE_DATABASE_PASSWORD"

    public static func resolve(file: String?, environment: [String: String]) throws -> String? {
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw StoreError.configuration("cannot read the database password file \(file)")
            }
            let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            guard !line.isEmpty else { throw StoreError.configuration("the database password file \(file) is empty") }
            return line
        }
        if let value = environment[environmentVariable], !value.isEmpty { return value }
        return nil
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

import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Opens the backend for a location, and says what must run while it is used (PostgreSQL's
/// pool).
public enum Database {
    /// The backend for `location`. PostgreSQL's is usable only while `services(for:)` run.
    public static func open(_ location: DatabaseLocation, logger: Logger) async throws -> any DatabaseBackend {
        switch location {
        case .sqlite(let path):
            try await SQLiteBackend.open(path: path, logger: logger)
        case .postgres(let url, let password):
            try PostgresBackend(url: url, password: password, logger: logger)
        }
    }

    /// What must run while `backend` is used: on PostgreSQL its client (the connection pool),
    /// listed first in a service group so that it stops after everything that uses it; nothing
    /// on SQLite.
    public static func services(for backend: any DatabaseBackend) -> [any Service] {
        (backend as? PostgresBackend).map { [$0.client] } ?? []
    }

    /// Opens the backend, runs its services (`withServices`) for the duration of `body`, then
    /// closes it. Returns once the PostgreSQL pool has stopped: at once with PostgreSQL
    /// stopped (connects are refused), within the connect timeout (3 s) with its host gone.
    public static func with<T: Sendable>(
        _ location: DatabaseLocation, logger: Logger,
        _ body: @Sendable (any DatabaseBackend) async throws -> T
    ) async throws -> T {
        let backend = try await open(location, logger: logger)
        do {
            let result = try await withServices(services(for: backend), logger: logger) { try await body(backend) }
            try await backend.close()
            return result
        } catch {
            try? await backend.close()
            throw error
        }
    }
}

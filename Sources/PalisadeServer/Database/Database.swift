import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// Opens the backend for a location and keeps what it needs running (PostgreSQL's pool) for
/// the duration of `body` (tools and tests); `palisade serve` runs it as a service of its
/// group instead (`open` and `services(for:)`).
public enum Database {
    /// The backend for a location, not yet running what it needs: see `services(for:)`.
    public static func open(_ location: DatabaseLocation, logger: Logger) async throws -> any DatabaseBackend {
        switch location {
        case .sqlite(let path): try await SQLiteBackend.open(path: path, logger: logger)
        case .postgres(let url, let password): try PostgresBackend(url: url, password: password, logger: logger)
        }
    }

    /// What must run while the backend is used: PostgreSQL's client (its pool), nothing for
    /// SQLite. In a service group, list these before the services that use the database, so
    /// that they stop after them.
    public static func services(for backend: any DatabaseBackend) -> [any Service] {
        (backend as? PostgresBackend).map { [$0.client] } ?? []
    }

    public static func with<T: Sendable>(
        _ location: DatabaseLocation, logger: Logger,
        _ body: @Sendable (any DatabaseBackend) async throws -> T
    ) async throws -> T {
        switch location {
        case .sqlite:
            let backend = try await open(location, logger: logger)
            do {
                let result = try await body(backend)
                try await backend.close()
                return result
            } catch {
                try? await backend.close()
                throw error
            }
        case .postgres(let url, let password):
            let backend = try PostgresBackend(url: url, password: password, logger: logger)
            // Unstructured so that closing the pool is waited for a bounded time only: with
            // PostgreSQL unreachable, a stopping server must not wait on connection attempts.
            let poolStopped = NIOLockedValueBox(false)
            let pool = Task {
                await backend.client.run()
                poolStopped.withLockedValue { $0 = true }
            }
            defer { pool.cancel() }
            let result = try await body(backend)
            pool.cancel()
            let deadline = ContinuousClock.now.advanced(by: .seconds(2))
            while !poolStopped.withLockedValue({ $0 }), ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            return result
        }
    }
}

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

    /// `body` with the backend, closed afterwards whether `body` threw or not (a failure to
    /// close is thrown only when `body` succeeded).
    static func closing<T: Sendable>(_ backend: any DatabaseBackend, _ body: () async throws -> T) async throws -> T {
        let result: T
        do {
            result = try await body()
        } catch {
            try? await backend.close()
            throw error
        }
        try await backend.close()
        return result
    }

    public static func with<T: Sendable>(
        _ location: DatabaseLocation, logger: Logger,
        _ body: @Sendable (any DatabaseBackend) async throws -> T
    ) async throws -> T {
        let backend = try await open(location, logger: logger)
        let services = services(for: backend)
        guard !services.isEmpty else { return try await closing(backend) { try await body(backend) } }
        // Unstructured so that stopping the pool is waited for a bounded time only: with
        // PostgreSQL unreachable, a stopping tool must not wait on connection attempts.
        let stopped = NIOLockedValueBox(false)
        let running = Task {
            await withTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try? await service.run() } }
            }
            stopped.withLockedValue { $0 = true }
        }
        defer { running.cancel() }
        return try await closing(backend) {
            let result = try await body(backend)
            running.cancel()
            let deadline = ContinuousClock.now.advanced(by: .seconds(2))
            while !stopped.withLockedValue({ $0 }), ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            return result
        }
    }
}

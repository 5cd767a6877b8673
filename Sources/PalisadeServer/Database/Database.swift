import Foundation
import Logging
import PostgresNIO

/// Opens the backend for a location and keeps what it needs running (PostgreSQL's pool) for
/// the duration of `body`.
public enum Database {
    public static func with<T: Sendable>(
        _ location: DatabaseLocation, logger: Logger,
        _ body: @Sendable (any DatabaseBackend) async throws -> T
    ) async throws -> T {
        switch location {
        case .sqlite(let path):
            let backend = try await SQLiteBackend.open(path: path, logger: logger)
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
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await backend.client.run() }
                defer { group.cancelAll() }
                return try await body(backend)
            }
        }
    }
}

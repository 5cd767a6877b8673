import Foundation
import Logging
import NIOConcurrencyHelpers
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

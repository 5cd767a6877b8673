import Logging
import ServiceLifecycle

/// Runs `services` in a service group (listed in dependency order, as in a server's group) for
/// as long as `body` runs, then shuts them down gracefully, in reverse order, and returns once
/// every one has stopped: for tools and tests that use what a server runs (the PostgreSQL
/// client, the hot path's writers) without a server. Structured: nothing outlives the call.
/// `body`'s error wins over the group's.
public func withServices<T: Sendable>(_ services: [any Service], logger: Logger, _ body: () async throws -> T) async throws -> T {
    guard !services.isEmpty else { return try await body() }
    let group = ServiceGroup(configuration: .init(services: services, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: Result<T, any Error>
        do {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        do {
            try await tasks.waitForAll()
        } catch {
            if case .success = result { throw error }
        }
        return try result.get()
    }
}

import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for configuration changes committed by any replica (PostgreSQL LISTEN) and wakes
/// this replica's long-polling check-ins. Reconnects with backoff if the connection drops.
public struct PostgresChangeListener: Service {
    let backend: PostgresBackend
    let notifier: ConfigurationChangeNotifier
    let logger: Logger

    public init(backend: PostgresBackend, notifier: ConfigurationChangeNotifier, logger: Logger) {
        self.backend = backend
        self.notifier = notifier
        self.logger = logger
    }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown {
                    try await backend.client.withConnection { connection in
                        try await connection.listen(on: PostgresBackend.changeChannel) { notifications in
                            for try await notification in notifications {
                                let ids = Set(notification.payload.split(separator: ",").map(String.init))
                                await notifier.wakeLocal(ids)
                            }
                        }
                    }
                }
                failures = 0
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                failures += 1
                logger.warning("change listener lost its connection; reconnecting", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(min(200 * (1 << min(failures, 6)), 10_000)))
            }
        }
    }
}

import Logging
import PostgresNIO
import ServiceLifecycle

/// Listens for configuration changes committed by any replica (PostgreSQL LISTEN) and wakes
/// this replica's long-polling check-ins; device record changes (keys, status) drop this
/// replica's cached credentials. Whenever the listening connection ends, it waits
/// before reconnecting (longer after each failure in a row), so that a database that is
/// down or refusing connections is not hammered in a loop.
public struct PostgresChangeListener: Service {
    let backend: PostgresBackend
    let notifier: ConfigurationChangeNotifier
    let logger: Logger

    public init(backend: PostgresBackend, notifier: ConfigurationChangeNotifier, logger: Logger) {
        self.backend = backend
        self.notifier = notifier
        self.logger = logger
    }

    /// The wait before the next attempt after `failures` failures in a row: 200 ms doubling up
    /// to 10 s; 200 ms after a listen that ended without an error.
    static func reconnectDelay(afterFailures failures: Int) -> Duration {
        .milliseconds(min(200 * (1 << min(failures, 6)), 10_000))
    }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown {
                    try await backend.client.withConnection { connection in
                        try await connection.listen(on: PostgresBackend.changeChannel) { notifications in
                            // Listening now; whatever changed while it was not is unknown.
                            notifier.cache.removeAll()
                            for try await notification in notifications {
                                if let devices = PostgresBackend.deviceRecordChanges(in: notification.payload) {
                                    notifier.devicesChanged(devices)
                                } else {
                                    await notifier.notify(Set(notification.payload.split(separator: ",").map(String.init)))
                                }
                            }
                        }
                    }
                }
                failures = 0
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.info("change listener's connection ended; reconnecting")
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                failures += 1
                logger.warning("change listener lost its connection; reconnecting", metadata: ["error": "\(error)", "failures": "\(failures)"])
            }
            try? await gracefulShutdownOrSleep(Self.reconnectDelay(afterFailures: failures))
        }
    }

    private func gracefulShutdownOrSleep(_ delay: Duration) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
    }
}

import Logging
import ServiceLifecycle

/// Loads every tenant's directory engine while the server starts, so that the first request
/// of each tenant does not pay for it. A service of the server's group: it stops with the
/// group on shutdown, and its work is cancelled if the shutdown comes first.
struct DirectoryWarmUp: Service {
    let store: PalisadeStore

    func run() async throws {
        try? await cancelWhenGracefulShutdown { await store.directory.warmUp() }
        // A service that returns ends the group: stay until the server stops.
        try? await gracefulShutdown()
    }
}

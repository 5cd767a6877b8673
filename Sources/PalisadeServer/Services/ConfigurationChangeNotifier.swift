import Foundation
import ServiceLifecycle

/// Wakes long-polling check-ins the moment their device's configuration changes. In-process;
/// on PostgreSQL, `PostgresChangeListener` feeds it changes committed by other replicas.
public actor ConfigurationChangeNotifier: Service {
    public struct Subscription: Sendable {
        let id: UUID
        let deviceId: String
        let stream: AsyncStream<Void>

        /// True when a change arrived within `timeout`; false on timeout or shutdown. The
        /// server's graceful shutdown ends the wait at once: the HTTP server stops only after
        /// its requests are answered, and a held long-poll would otherwise keep it up for a
        /// whole wait.
        public func next(timeout: Duration) async -> Bool {
            let (shutdown, shutdownStarted) = AsyncStream<Void>.makeStream()
            return await withGracefulShutdownHandler {
                await withTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for await _ in stream { return true }
                        return false
                    }
                    group.addTask {
                        try? await Task.sleep(for: timeout)
                        return false
                    }
                    group.addTask {
                        for await _ in shutdown {}
                        return false
                    }
                    let first = await group.next() ?? false
                    group.cancelAll()
                    return first
                }
            } onGracefulShutdown: {
                shutdownStarted.finish()
            }
        }
    }

    private var subscribers: [String: [UUID: AsyncStream<Void>.Continuation]] = [:]
    private var isShuttingDown = false
    /// The check-in hot path's cache: every change this notifier hears invalidates it first.
    public nonisolated let cache: DeviceHotPathCache

    public init(cache: DeviceHotPathCache = DeviceHotPathCache()) {
        self.cache = cache
    }

    public var subscriberCount: Int { subscribers.values.reduce(0) { $0 + $1.count } }

    /// Runs `body` with a subscription to the device's changes (nil unless `subscribing`),
    /// and releases it on every path out: a return, an error, or a cancelled request.
    public nonisolated func withSubscription<T: Sendable>(
        to deviceId: String, if subscribing: Bool = true,
        _ body: @Sendable (Subscription?) async throws -> T
    ) async throws -> T {
        guard subscribing else { return try await body(nil) }
        let subscription = await subscribe(deviceId)
        do {
            let result = try await body(subscription)
            await unsubscribe(subscription)
            return result
        } catch {
            await unsubscribe(subscription)
            throw error
        }
    }

    /// One long-poll per device: a new one releases those still waiting (they answer at once),
    /// so a device, or someone holding its key, cannot pile up held connections.
    func subscribe(_ deviceId: String) -> Subscription {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        if isShuttingDown {
            continuation.finish()
        } else {
            for older in subscribers.removeValue(forKey: deviceId)?.values ?? [:].values { older.finish() }
            subscribers[deviceId] = [id: continuation]
        }
        return Subscription(id: id, deviceId: deviceId, stream: stream)
    }

    func unsubscribe(_ subscription: Subscription) {
        subscribers[subscription.deviceId]?.removeValue(forKey: subscription.id)?.finish()
        if subscribers[subscription.deviceId]?.isEmpty == true {
            subscribers.removeValue(forKey: subscription.deviceId)
        }
    }

    /// Wakes this replica's waiters of these devices (other replicas hear of the change
    /// through the database: `DatabaseBackend.announceConfigurationChanges`).
    public func notify(_ deviceIds: Set<String>) {
        cache.configurationChanged(deviceIds)
        for id in deviceIds {
            for continuation in subscribers[id]?.values ?? [:].values {
                continuation.yield()
            }
        }
    }

    /// The devices' records changed (key, status, inventory) on this replica or another:
    /// their cached credentials and state are dropped. Long-polls are not woken: what they
    /// wait for, the configuration, did not change.
    public nonisolated func devicesChanged(_ deviceIds: Set<String>) {
        cache.devicesChanged(deviceIds)
    }

    /// Waits for graceful shutdown, then releases every waiting check-in so that the server
    /// can stop without waiting out long-polls.
    public func run() async throws {
        try? await gracefulShutdown()
        isShuttingDown = true
        for continuations in subscribers.values {
            for continuation in continuations.values { continuation.finish() }
        }
        subscribers.removeAll()
    }
}

import Foundation
import ServiceLifecycle

/// Wakes long-polling check-ins the moment their device's configuration changes. In-process;
/// on PostgreSQL, `PostgresChangeListener` feeds it changes committed by other replicas.
public actor ConfigurationChangeNotifier: Service {
    public struct Subscription: Sendable {
        let id: UUID
        let deviceId: String
        let stream: AsyncStream<Void>

        /// True when a change arrived within `timeout`; false on timeout or shutdown.
        public func next(timeout: Duration) async -> Bool {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await _ in stream { return true }
                    return false
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
        }
    }

    private var subscribers: [String: [UUID: AsyncStream<Void>.Continuation]] = [:]
    private var isShuttingDown = false
    private var broadcast: (@Sendable (Set<String>) async -> Void)?

    public init() {}

    /// Changes made here are also handed to `broadcast` (PostgreSQL NOTIFY for other replicas).
    public func setBroadcast(_ broadcast: @escaping @Sendable (Set<String>) async -> Void) {
        self.broadcast = broadcast
    }

    public var subscriberCount: Int { subscribers.values.reduce(0) { $0 + $1.count } }

    public func subscribe(_ deviceId: String) -> Subscription {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        if isShuttingDown {
            continuation.finish()
        } else {
            subscribers[deviceId, default: [:]][id] = continuation
        }
        return Subscription(id: id, deviceId: deviceId, stream: stream)
    }

    public func unsubscribe(_ subscription: Subscription) {
        subscribers[subscription.deviceId]?.removeValue(forKey: subscription.id)?.finish()
        if subscribers[subscription.deviceId]?.isEmpty == true {
            subscribers.removeValue(forKey: subscription.deviceId)
        }
    }

    /// Wakes local waiters of these devices and tells other replicas.
    public func notify(_ deviceIds: Set<String>) async {
        wakeLocal(deviceIds)
        if let broadcast {
            await broadcast(deviceIds)
        }
    }

    /// Wakes local waiters only (for changes that came from another replica).
    public func wakeLocal(_ deviceIds: Set<String>) {
        for id in deviceIds {
            for continuation in subscribers[id]?.values ?? [:].values {
                continuation.yield()
            }
        }
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

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Wakes long-polling check-ins the moment their device's configuration changes. In-process;
/// on PostgreSQL, `PostgresChangeListener` feeds it changes committed by other replicas.
public actor ConfigurationChangeNotifier: Service {
    public struct Subscription: Sendable {
        let id: UUID
        let deviceId: String
        let waiter: LongPollWaiter

        /// True when a change arrived within `timeout`; false on timeout, shutdown, cancellation
        /// or a newer long-poll of the device. The server's graceful shutdown ends the wait at
        /// once: the HTTP server stops only after its requests are answered, and a held
        /// long-poll would otherwise keep it up for a whole wait.
        ///
        /// One continuation, woken by whichever comes first, and one timer on an event loop:
        /// no child tasks, because every held long-poll pays for what its wait keeps alive
        /// (issue 12: memory per held long-poll; the three child tasks cost about 5 KiB each wait).
        public func next(timeout: Duration) async -> Bool {
            await withTaskCancellationOrGracefulShutdownHandler {
                await waiter.wait(timeout: timeout)
            } onCancelOrGracefulShutdown: {
                waiter.finish()
            }
        }
    }

    private var subscribers: [String: [UUID: LongPollWaiter]] = [:]
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
        let waiter = LongPollWaiter()
        let id = UUID()
        if isShuttingDown {
            waiter.finish()
        } else {
            for older in subscribers.removeValue(forKey: deviceId)?.values ?? [:].values { older.finish() }
            subscribers[deviceId] = [id: waiter]
        }
        return Subscription(id: id, deviceId: deviceId, waiter: waiter)
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
            for waiter in subscribers[id]?.values ?? [:].values {
                waiter.changed()
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
        for waiters in subscribers.values {
            for waiter in waiters.values { waiter.finish() }
        }
        subscribers.removeAll()
    }
}

/// One long-poll's wait: a change, the end of the wait (timeout, shutdown, cancellation, a newer
/// long-poll), or the timer, whichever comes first, resumes it once. A change that comes before
/// the wait begins is kept, so that one between subscribing and waiting is not missed.
public final class LongPollWaiter: Sendable {
    private enum State {
        case idle(changed: Bool)
        case waiting(CheckedContinuation<Bool, Never>, timer: Scheduled<Void>?)
        case done
    }

    private let state = NIOLockedValueBox(State.idle(changed: false))

    init() {}

    func wait(timeout: Duration) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resumeNow: Bool? = state.withLockedValue { state in
                switch state {
                case .idle(let changed):
                    if changed {
                        state = .done
                        return true
                    }
                    state = .waiting(continuation, timer: nil)
                    return nil
                case .done:
                    return false
                case .waiting:
                    preconditionFailure("a long-poll subscription is waited for once")
                }
            }
            if let resumeNow {
                continuation.resume(returning: resumeNow)
                return
            }
            // The timer lives on one of the process's event loops (Hummingbird's too): a
            // scheduled task is a small heap entry, cancelled when the wait ends first.
            let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) { [self] in
                resume(with: false)
            }
            let stillWaiting = state.withLockedValue { state in
                guard case .waiting(let continuation, nil) = state else { return false }
                state = .waiting(continuation, timer: timer)
                return true
            }
            if !stillWaiting { timer.cancel() }
        }
    }

    /// The device's configuration changed: the wait answers true (now, or when it begins).
    func changed() {
        if state.withLockedValue({ state in
            if case .idle = state {
                state = .idle(changed: true)
                return false
            }
            return true
        }) {
            resume(with: true)
        }
    }

    /// The wait ends without a change (a change already received still counts).
    func finish() {
        let changedBefore: Bool = state.withLockedValue { state in
            if case .idle(let changed) = state {
                if !changed { state = .done }
                return changed
            }
            return false
        }
        if !changedBefore { resume(with: false) }
    }

    private func resume(with changed: Bool) {
        let waiting: (CheckedContinuation<Bool, Never>, Scheduled<Void>?)? = state.withLockedValue { state in
            guard case .waiting(let continuation, let timer) = state else { return nil }
            state = .done
            return (continuation, timer)
        }
        guard let (continuation, timer) = waiting else { return }
        timer?.cancel()
        continuation.resume(returning: changed)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

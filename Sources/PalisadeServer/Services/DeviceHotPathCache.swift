import Foundation
import NIOConcurrencyHelpers
import PalisadeCore
import PalisadeIdentity

/// What an unchanged check-in needs to know about its device, kept in this process so that it
/// costs no database read: the device's credentials (key parsed once), its check-in state
/// (configuration hash, no sync pending, its report about that configuration stored) and the
/// inventory last stored for it.
///
/// Entries are dropped by the events that change them, on this replica and, through
/// PostgreSQL NOTIFY, on the others (`ConfigurationChangeNotifier.devicesChanged/notify`);
/// the whole cache is dropped when the listener reconnects (notifications may have been
/// missed meanwhile). Every entry also expires after `timeToLive`: a safety net, so that a
/// missed invalidation can never keep a retired device's key alive for longer.
///
/// A reader that missed the cache reads the database and stores what it read only if its
/// device was not invalidated since the read started (`generation`): an invalidation racing
/// with the read never leaves the older value behind.
public final class DeviceHotPathCache: Sendable {
    public static let defaultTimeToLive: Duration = .seconds(60)

    struct Credentials: Sendable {
        var credentials: DeviceCredentials
        var key: DeviceVerificationKey
    }

    /// Only states without a pending sync request are cached: those answer "unchanged" when
    /// the hash matches, and a sync request invalidates them.
    struct LastInventory: Sendable {
        var inventory: DeviceProtocol.Inventory?
        var ruleDay: String
    }

    private struct Entry<Value: Sendable>: Sendable {
        var value: Value
        var expires: ContinuousClock.Instant
    }

    private struct State: Sendable {
        var generation: UInt64 = 0
        /// The generation at which each device was last invalidated, and at which everything
        /// was: a read may be stored only if its device was not invalidated since it started
        /// (per device, so that churn on some devices does not stop others being cached).
        var invalidatedAt: [String: UInt64] = [:]
        var everythingInvalidatedAt: UInt64 = 0
        var credentials: [String: Entry<Credentials>] = [:]
        var hashes: [String: Entry<String?>] = [:]
        var inventories: [String: Entry<LastInventory>] = [:]
        /// When each device was last asked to report again (`askForReport`), wall-clock millis,
        /// and which configuration (its stored document's digest) it was asked about.
        var reportRequests: [String: (millis: Int64, configuration: String)] = [:]
    }

    private let state = NIOLockedValueBox(State())
    let timeToLive: Duration
    /// Beyond this many devices a table starts again empty (memory stays bounded).
    let maximumEntries: Int

    public init(timeToLive: Duration = DeviceHotPathCache.defaultTimeToLive, maximumEntries: Int = 500_000) {
        self.timeToLive = timeToLive
        self.maximumEntries = maximumEntries
    }

    /// Changes with every invalidation; read before a database read, passed to `store...`.
    var generation: UInt64 { state.withLockedValue { $0.generation } }

    func credentials(_ deviceId: String) -> Credentials? {
        lookup(deviceId, in: \.credentials)
    }

    func storeCredentials(_ value: Credentials, readAt generation: UInt64) {
        store(value, in: \.credentials, deviceId: value.credentials.deviceId, readAt: generation)
    }

    /// `.some(hash)` when cached (hash nil: no configuration yet), nil on a miss.
    func configurationHash(_ deviceId: String) -> String?? {
        lookup(deviceId, in: \.hashes)
    }

    func storeConfigurationHash(_ hash: String?, deviceId: String, readAt generation: UInt64) {
        store(hash, in: \.hashes, deviceId: deviceId, readAt: generation)
    }

    func lastInventory(_ deviceId: String) -> LastInventory? {
        lookup(deviceId, in: \.inventories)
    }

    func storeLastInventory(_ value: LastInventory, deviceId: String, readAt generation: UInt64) {
        store(value, in: \.inventories, deviceId: deviceId, readAt: generation)
    }

    /// True when `deviceId` may be asked to report `configuration` (a stored document's digest)
    /// now: it was not asked about that same configuration in the last `interval` millis on this
    /// replica. A new configuration may be asked about at once, even one with the hash of the
    /// last (a revision flipping a value back): its device may have been asked during the
    /// churn before it, and then parks on a long-poll that nothing else would wake. Notes the
    /// ask when it answers true.
    func askForReport(_ deviceId: String, configuration: String, at nowMillis: Int64, interval: Int64) -> Bool {
        state.withLockedValue { state in
            if let last = state.reportRequests[deviceId], last.configuration == configuration, nowMillis - last.millis < interval, nowMillis >= last.millis {
                return false
            }
            if state.reportRequests.count >= maximumEntries { state.reportRequests.removeAll(keepingCapacity: true) }
            state.reportRequests[deviceId] = (nowMillis, configuration)
            return true
        }
    }

    /// The device's unexpired entry in `table`, nil on a miss.
    private func lookup<Value: Sendable>(_ deviceId: String, in table: KeyPath<State, [String: Entry<Value>]>) -> Value? {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            guard let entry = state[keyPath: table][deviceId], entry.expires > now else { return nil }
            return entry.value
        }
    }

    private func store<Value: Sendable>(_ value: Value, in table: WritableKeyPath<State, [String: Entry<Value>]>, deviceId: String, readAt generation: UInt64) {
        let expires = ContinuousClock.now + timeToLive
        state.withLockedValue { state in
            guard state.everythingInvalidatedAt <= generation, (state.invalidatedAt[deviceId] ?? 0) <= generation else { return }
            if state[keyPath: table].count >= maximumEntries { state[keyPath: table].removeAll(keepingCapacity: true) }
            state[keyPath: table][deviceId] = Entry(value: value, expires: expires)
        }
    }

    /// The devices' configuration or sync state changed: their hashes are read again.
    public func configurationChanged(_ deviceIds: some Sequence<String>) {
        state.withLockedValue { state in
            state.generation += 1
            for id in deviceIds {
                state.hashes.removeValue(forKey: id)
                Self.markInvalidated(id, in: &state, maximumEntries: maximumEntries)
            }
        }
    }

    private static func markInvalidated(_ deviceId: String, in state: inout State, maximumEntries: Int) {
        if state.invalidatedAt.count >= maximumEntries {
            // Forgetting per-device marks is safe only by treating everything as invalidated.
            state.invalidatedAt.removeAll(keepingCapacity: true)
            state.everythingInvalidatedAt = state.generation
        }
        state.invalidatedAt[deviceId] = state.generation
    }

    /// The devices' records changed (key, pending key, status, inventory): everything about
    /// them is read again.
    public func devicesChanged(_ deviceIds: some Sequence<String>) {
        state.withLockedValue { state in
            state.generation += 1
            for id in deviceIds {
                Self.markInvalidated(id, in: &state, maximumEntries: maximumEntries)
                state.credentials.removeValue(forKey: id)
                state.hashes.removeValue(forKey: id)
                state.inventories.removeValue(forKey: id)
            }
        }
    }

    /// Forgets everything (the change listener reconnected: it may have missed changes).
    public func removeAll() {
        state.withLockedValue { state in
            state.generation += 1
            state.everythingInvalidatedAt = state.generation
            state.invalidatedAt.removeAll()
            state.credentials.removeAll()
            state.hashes.removeAll()
            state.inventories.removeAll()
        }
    }

    public var count: (credentials: Int, hashes: Int, inventories: Int) {
        state.withLockedValue { ($0.credentials.count, $0.hashes.count, $0.inventories.count) }
    }
}

/// Decoded effective configurations by content: the SHA-256 of the stored document
/// (`device_configurations.effective_digest`). Devices that sit in the same groups share one
/// document, so a thousand check-ins and reports after a policy change decode it once instead
/// of a thousand times (on SQLite, reports decode it inside the single writer's transaction).
/// Keyed by content, an entry can never be stale; the cache is bounded and simply emptied when
/// full.
public final class EffectiveConfigurationCache: Sendable {
    public struct Entry: Sendable {
        public let effective: EffectiveConfiguration
        /// What the agent is sent.
        public let delivered: DeviceConfiguration
    }

    static let capacity = 512
    private let state = NIOLockedValueBox<(entries: [String: Entry], decoded: Int)>(([:], 0))

    public init() {}

    /// Documents decoded so far (tests).
    public var documentsDecoded: Int { state.withLockedValue { $0.decoded } }

    func entry(digest: String) -> Entry? {
        state.withLockedValue { $0.entries[digest] }
    }

    /// Decodes `document` (whose digest is `digest`) and keeps it.
    func decode(_ document: String, digest: String) throws -> Entry {
        let effective: EffectiveConfiguration
        do {
            effective = try CanonicalJSON.decode(EffectiveConfiguration.self, from: document)
        } catch {
            throw StoreError.corrupt("column effective: \(error)")
        }
        let entry = Entry(effective: effective, delivered: effective.deviceConfiguration)
        state.withLockedValue { state in
            state.decoded += 1
            if state.entries.count >= Self.capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[digest] = entry
        }
        return entry
    }
}

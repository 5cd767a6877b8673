import Foundation
import Logging
import PalisadeCore
import SQLKit

/// Palisade's data: tenants, tokens, devices, groups, policies, configurations and reports.
/// Every query is scoped by tenant. Mutations that can change what devices receive go through
/// the tenant's in-memory directory engine, recompute the affected devices' effective
/// configurations in the same transaction, then wake their long-polls once it has committed.
public struct PalisadeStore: Sendable {
    public let backend: any DatabaseBackend
    public let catalog: SettingCatalog
    public let notifier: ConfigurationChangeNotifier
    /// Every time the store writes or decides on (expiry, stale devices, the day rules see).
    public let clock: any WallClock
    /// bcrypt's cost for new password hashes (12: about a quarter of a second each).
    public let passwordHashCost: UInt8
    /// This server's own metrics registry (`/metrics`).
    public let metrics: ServerMetrics
    let logger: Logger
    /// The directory's one writer: each tenant's engine, the write transaction, the
    /// recompute and the change log (Directory/).
    public let directory: DirectoryWriter
    /// The check-in hot path's batched writes (see PalisadeStore+HotPath.swift).
    let assertionLedger: AssertionLedger
    let lastSeen: LastSeenWriter
    let deviceWrites: DeviceWriteBatcher
    let effectiveConfigurations = EffectiveConfigurationCache()

    public init(backend: any DatabaseBackend, catalog: SettingCatalog = .standard, notifier: ConfigurationChangeNotifier = ConfigurationChangeNotifier(),
                clock: any WallClock = SystemWallClock(), passwordHashCost: UInt8 = 12, metrics: ServerMetrics = ServerMetrics(), logger: Logger) {
        self.backend = backend
        self.catalog = catalog
        self.notifier = notifier
        self.clock = clock
        self.passwordHashCost = passwordHashCost
        self.metrics = metrics
        self.logger = logger
        self.assertionLedger = AssertionLedger(backend: backend, clock: clock)
        self.lastSeen = LastSeenWriter(backend: backend, logger: logger)
        self.deviceWrites = DeviceWriteBatcher(backend: backend)
        self.directory = DirectoryWriter(backend: backend, catalog: catalog, notifier: notifier, clock: clock, metrics: metrics, logger: logger)
    }

    /// Writes the last-seen times still held in memory (graceful shutdown; tests).
    public func flushLastSeen() async {
        await lastSeen.flush()
    }

    /// Applies pending migrations.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await Migrations.apply(on: backend, logger: logger)
    }

    /// One statement, or several that need not agree with each other.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await backend.read(body)
    }

    /// Several statements that must see one committed state (reports, listings that read
    /// more than one table, the drift check).
    func readSnapshot<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await backend.readSnapshot(body)
    }

    /// A write transaction under the tenant's lock for data that no device's configuration
    /// depends on (enrollment tokens, device settings). Anything else goes through
    /// `writeDirectory`.
    func write<T: Sendable>(tenant: String, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await backend.write(lockKey: "tenant:\(tenant)", body)
    }
}

func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    try CanonicalJSON.string(value)
}

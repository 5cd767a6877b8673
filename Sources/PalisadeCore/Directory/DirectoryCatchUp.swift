/// What one write transaction changed in a tenant's directory: recorded by the store's
/// mutations, applied to the engine when the transaction finishes, and logged so that other
/// replicas apply the same changes.
public struct DirectoryChanges: Sendable, Hashable {
    public var devices: Set<String> = []
    public var groups: Set<String> = []
    public var policies: Set<String> = []
    public var scope = false
    /// Everything was re-derived from the database (`rebuildDirectory`): replicas reload.
    public var rebuild = false

    public init(devices: Set<String> = [], groups: Set<String> = [], policies: Set<String> = [], scope: Bool = false, rebuild: Bool = false) {
        self.devices = devices
        self.groups = groups
        self.policies = policies
        self.scope = scope
        self.rebuild = rebuild
    }

    public var isEmpty: Bool { devices.isEmpty && groups.isEmpty && policies.isEmpty && !scope && !rebuild }

    /// The entries the change log stores for this change.
    public var logEntries: [DirectoryLogEntry] {
        var entries: [DirectoryLogEntry] = scope ? [DirectoryLogEntry(kind: .scope)] : []
        if rebuild { entries.append(DirectoryLogEntry(kind: .rebuild)) }
        entries += devices.sorted().map { DirectoryLogEntry(kind: .device, entityId: $0) }
        entries += groups.sorted().map { DirectoryLogEntry(kind: .group, entityId: $0) }
        entries += policies.sorted().map { DirectoryLogEntry(kind: .policy, entityId: $0) }
        return entries
    }
}

/// What a logged directory change touched.
public enum DirectoryChangeKind: String, Sendable, Hashable, CaseIterable {
    case device
    case group
    case policy
    case scope
    case rebuild
}

/// One row of the directory change log (`directory_changes`).
public struct DirectoryLogEntry: Sendable, Hashable {
    public var kind: DirectoryChangeKind
    /// The device, group or policy id; empty for scope and rebuild.
    public var entityId: String

    public init(kind: DirectoryChangeKind, entityId: String = "") {
        self.kind = kind
        self.entityId = entityId
    }
}

/// A change-log row as read from the database, before its kind is understood.
public struct LoggedDirectoryChange: Sendable, Hashable {
    public var version: Int64
    public var kind: String
    public var entityId: String

    public init(version: Int64, kind: String, entityId: String) {
        self.version = version
        self.kind = kind
        self.entityId = entityId
    }
}

/// How a replica brings its cached directory engine up to the database's directory version
/// before a write or a read: decided from the versions and the change log alone, so that every
/// path can be tested without a database (the I/O lives in `PalisadeStore+DirectoryCatchUp`).
public enum DirectoryCatchUp: Sendable, Hashable {
    /// The cache is current.
    case useCached
    /// Apply these changes (re-reading each entity) to the cache.
    case apply(DirectoryChanges)
    /// Load the whole tenant from the database.
    case reload(ReloadReason)

    public enum ReloadReason: Sendable, Hashable, CustomStringConvertible {
        /// This replica has no index for the tenant (first use, or dropped after a failure).
        case nothingCached
        /// The cache claims a newer version than the database (a restore to an older backup).
        case cacheAhead(cached: Int64, current: Int64)
        /// The log misses versions the cache needs (pruned: the replica is too far behind).
        case logIncomplete(missing: Int)
        /// Another replica re-derived everything (`palisade directory rebuild`).
        case rebuildLogged
        /// The log names a kind this replica does not know (a newer replica wrote it): never
        /// guessed at, since a wrong guess would leave the engine silently out of step.
        case unknownKind(String, version: Int64)
        /// Applying several logged versions at once met a state no single commit had (e.g.
        /// nesting reversed in two steps reads as a cycle).
        case applyFailed(String)

        public var description: String {
            switch self {
            case .nothingCached: "no directory cached on this replica"
            case .cacheAhead(let cached, let current): "the cached directory (version \(cached)) is ahead of the database (version \(current))"
            case .logIncomplete(let missing): "the change log no longer covers the cached version (\(missing) versions missing)"
            case .rebuildLogged: "the directory was rebuilt"
            case .unknownKind(let kind, let version): "the change log holds an unknown kind \"\(kind)\" at version \(version)"
            case .applyFailed(let problem): "catching up failed: \(problem)"
            }
        }
    }

    /// `log` holds the logged changes with versions above `cachedVersion` (rows above
    /// `currentVersion`, committed after the version was read, are ignored).
    public static func decide(cachedVersion: Int64?, currentVersion: Int64, log: [LoggedDirectoryChange]) -> DirectoryCatchUp {
        guard let cachedVersion else { return .reload(.nothingCached) }
        if cachedVersion > currentVersion { return .reload(.cacheAhead(cached: cachedVersion, current: currentVersion)) }
        if cachedVersion == currentVersion { return .useCached }
        var changes = DirectoryChanges()
        var versions: Set<Int64> = []
        for entry in log.sorted(by: { $0.version < $1.version }) where entry.version > cachedVersion && entry.version <= currentVersion {
            versions.insert(entry.version)
            guard let kind = DirectoryChangeKind(rawValue: entry.kind) else {
                return .reload(.unknownKind(entry.kind, version: entry.version))
            }
            switch kind {
            case .device: changes.devices.insert(entry.entityId)
            case .group: changes.groups.insert(entry.entityId)
            case .policy: changes.policies.insert(entry.entityId)
            case .scope: changes.scope = true
            case .rebuild: return .reload(.rebuildLogged)
            }
        }
        let expected = Int(currentVersion - cachedVersion)
        guard versions.count == expected else { return .reload(.logIncomplete(missing: expected - versions.count)) }
        return .apply(changes)
    }
}

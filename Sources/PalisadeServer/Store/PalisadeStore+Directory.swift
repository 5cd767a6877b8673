import Foundation
import Logging
import PalisadeCore
import NIOConcurrencyHelpers
import SQLKit

/// What one write transaction changed in its tenant's directory. Recorded by the store's
/// mutations, applied to the index when the transaction finishes (re-reading each entity as
/// the transaction left it), and logged so that other replicas apply the same changes.
struct DirectoryChanges: Sendable, Hashable {
    var devices: Set<String> = []
    var groups: Set<String> = []
    var policies: Set<String> = []
    var scope = false
    /// Everything was re-derived from the database (`rebuildDirectory`): replicas reload.
    var rebuild = false

    var isEmpty: Bool { devices.isEmpty && groups.isEmpty && policies.isEmpty && !scope && !rebuild }
}

/// A tenant's directory during one write transaction: the engine, caught up with the
/// database, and what the transaction changed. Mutations say what they touched; the store
/// does the rest when the transaction finishes.
struct DirectoryEdit: Sendable {
    let tenant: String
    /// Read-only for mutations: the index changes only when the transaction finishes.
    fileprivate(set) var index: DirectoryIndex
    fileprivate(set) var version: Int64
    fileprivate(set) var changes = DirectoryChanges()

    mutating func deviceChanged(_ id: String) { changes.devices.insert(id) }
    mutating func groupChanged(_ id: String) { changes.groups.insert(id) }
    mutating func policyChanged(_ id: String) { changes.policies.insert(id) }
    mutating func scopeChanged() { changes.scope = true }
    fileprivate mutating func rebuildEverything() { changes.rebuild = true }

    fileprivate var entry: TenantDirectoryCache.Entry { .init(version: version, index: index) }
}

/// Hands the leased index into the transaction and, if the transaction fails before changing
/// it, back out.
private final class DirectoryLease: Sendable {
    private let entry: NIOLockedValueBox<TenantDirectoryCache.Entry?>

    init(_ entry: TenantDirectoryCache.Entry?) { self.entry = NIOLockedValueBox(entry) }

    func take() -> TenantDirectoryCache.Entry? {
        entry.withLockedValue { entry in
            let taken = entry
            entry = nil
            return taken
        }
    }

    func keep(_ kept: TenantDirectoryCache.Entry) { entry.withLockedValue { $0 = kept } }
}

extension PalisadeStore {
    /// A write transaction for one tenant that changes what devices may receive. `body`
    /// records which devices, groups, policies or scope it changed; then, in the same
    /// transaction, the directory engine re-evaluates memberships for exactly those, the
    /// affected devices' configurations are recomputed and only the changed ones written,
    /// and the change is logged for other replicas. Long-polls of devices whose configuration
    /// changed are woken after commit, here and (PostgreSQL) on every replica.
    func writeDirectory<T: Sendable>(tenant: String, reload: Bool = false, _ body: @Sendable (any SQLDatabase, inout DirectoryEdit) async throws -> T) async throws -> T {
        let lease = DirectoryLease(await directories.lease(tenant))
        if reload { _ = lease.take() }
        let backend = self.backend
        do {
            let started = ContinuousClock.now
            let (result, changed, entry) = try await backend.write(lockKey: "tenant:\(tenant)") { sql in
                let locked = ContinuousClock.now
                var edit = try await openDirectory(tenant: tenant, lease: lease, on: sql)
                let opened = ContinuousClock.now
                let result: T
                do {
                    result = try await body(sql, &edit)
                } catch {
                    // Nothing has touched the index yet: it still matches the database.
                    lease.keep(edit.entry)
                    throw error
                }
                let body = ContinuousClock.now
                let changed = try await finish(&edit, on: sql)
                try await backend.announceConfigurationChanges(changed, on: sql)
                logger.debug("directory transaction", metadata: [
                    "lock": "\(locked - started)", "open": "\(opened - locked)", "body": "\(body - opened)", "finish": "\(ContinuousClock.now - body)",
                ])
                return (result, changed, edit.entry)
            }
            logger.debug("directory transaction committed", metadata: ["total": "\(ContinuousClock.now - started)"])
            await directories.release(tenant, entry: entry)
            if !changed.isEmpty { await notifier.notify(changed) }
            return result
        } catch {
            await directories.release(tenant, entry: lease.take())
            throw error
        }
    }

    /// The tenant's directory as committed, for reads (memberships of dynamic groups live only
    /// here; previews). The cached index is used as is when it matches the database's
    /// directory version (one indexed read); otherwise it is first caught up under the
    /// tenant's lock. `body` runs without any lock: a long preview blocks no write.
    func readDirectory<T: Sendable>(tenant: String, _ body: @Sendable (DirectoryIndex) async throws -> T) async throws -> T {
        if let cached = await directories.committed(tenant),
           try await read({ sql in try await Self.directoryVersion(tenant: tenant, on: sql) }) == cached.version {
            return try await body(cached.index)
        }
        let current = try await writeDirectory(tenant: tenant) { _, edit in edit.index }
        return try await body(current)
    }

    /// Loads every tenant's directory engine; a failure is logged and left to the first request.
    public func warmDirectories() async {
        let tenants: [Tenant]
        do {
            tenants = try await self.tenants()
        } catch {
            logger.warning("could not list tenants at start; directories load on first use", metadata: ["error": "\(error)"])
            return
        }
        for tenant in tenants {
            guard !Task.isCancelled else { return }
            do {
                try await readDirectory(tenant: tenant.id) { _ in }
            } catch {
                logger.warning("could not load a tenant's directory at start; it loads on first use", metadata: ["tenant": "\(tenant.id)", "error": "\(error)"])
            }
        }
    }

    // MARK: Catching up

    /// The tenant's directory version as committed (0 before its first change).
    static func directoryVersion(tenant: String, on sql: any SQLDatabase) async throws -> Int64 {
        try await sql.raw("SELECT version FROM directory_versions WHERE tenant_id = \(bind: tenant)").first()?.decode(column: "version", as: Int64.self) ?? 0
    }

    /// The cached index brought up to the database's directory version: by applying the
    /// logged changes of other replicas, or, without a cache or with a log gap, by loading
    /// the whole tenant.
    private func openDirectory(tenant: String, lease: DirectoryLease, on sql: any SQLDatabase) async throws -> DirectoryEdit {
        let version = try await Self.directoryVersion(tenant: tenant, on: sql)
        // Taken out of the lease, the index has one owner: catching up mutates it in place.
        if var cached = lease.take(), cached.version <= version {
            if cached.version == version { return DirectoryEdit(tenant: tenant, index: cached.index, version: version) }
            var changes = DirectoryChanges()
            var versions: Set<Int64> = []
            for row in try await sql.raw("""
                SELECT version, kind, entity_id FROM directory_changes WHERE tenant_id = \(bind: tenant) AND version > \(bind: cached.version)
                """).all() {
                versions.insert(try row.decode(column: "version", as: Int64.self))
                let id = try row.string("entity_id")
                switch try row.string("kind") {
                case "device": changes.devices.insert(id)
                case "group": changes.groups.insert(id)
                case "policy": changes.policies.insert(id)
                case "rebuild": changes.rebuild = true
                default: changes.scope = true
                }
            }
            if versions.count == Int(version - cached.version), !changes.rebuild {
                do {
                    _ = try await apply(changes, to: &cached.index, tenant: tenant, on: sql)
                    return DirectoryEdit(tenant: tenant, index: cached.index, version: version)
                } catch StoreError.corrupt(let problem) {
                    // Several versions applied as one can pass through a state no single commit
                    // had (e.g. nesting reversed in two steps reads as a cycle): load instead.
                    logger.info("catching up the directory failed; loading the tenant", metadata: ["tenant": "\(tenant)", "problem": "\(problem)"])
                }
            }
            logger.info(changes.rebuild ? "the directory was rebuilt; loading the tenant" : "directory log no longer covers the cached version; loading the tenant",
                        metadata: ["tenant": "\(tenant)", "cached": "\(cached.version)", "current": "\(version)"])
        }
        let started = ContinuousClock.now
        let index = try await loadDirectory(tenant: tenant, on: sql)
        logger.info("loaded directory", metadata: [
            "tenant": "\(tenant)", "devices": "\(index.devices.count)", "groups": "\(index.groups.count)",
            "duration": "\(ContinuousClock.now - started)",
        ])
        return DirectoryEdit(tenant: tenant, index: index, version: version)
    }

    /// Builds the engine for a whole tenant from the database. Dynamic groups are evaluated
    /// from their rules; static groups' members and nesting are read.
    func loadDirectory(tenant: String, on sql: any SQLDatabase) async throws -> DirectoryIndex {
        var index = DirectoryIndex(catalog: catalog, scope: try await Self.tenantSettings(tenant: tenant, on: sql).0)
        let devices = try await sql.raw("SELECT \(unsafeRaw: Self.deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant)").all()
            .map { try Self.device($0).directoryDevice }
        let groups = try await Self.groupDefinitions(tenant: tenant, ids: nil, on: sql)
        let policies = try await Self.assignedPolicies(tenant: tenant, ids: nil, on: sql)
        do {
            try index.load(devices: devices, groups: groups.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }, policies: policies.values.sorted { $0.policy.id < $1.policy.id })
        } catch {
            throw StoreError.corrupt("the directory of tenant \(tenant) is inconsistent: \(error)")
        }
        return index
    }

    /// Loads the tenant's directory afresh from the database, stores every configuration that
    /// differs from what it computes, and makes other replicas reload too. For a first start
    /// on imported data, after a restore, or after an upgrade that changes rule or merge
    /// semantics; routine changes never need it.
    public func rebuildDirectory(tenant: String) async throws -> DirectoryRebuild {
        let started = ContinuousClock.now
        var summary = try await writeDirectory(tenant: tenant, reload: true) { _, directory in
            directory.rebuildEverything()
            return DirectoryRebuild(devices: directory.index.devices.count, groups: directory.index.groups.count, duration: .zero)
        }
        summary.duration = ContinuousClock.now - started
        return summary
    }

    /// Devices whose stored configuration differs from what a fresh load of the whole tenant
    /// computes: empty unless incremental maintenance went wrong. For tests and operators.
    public func directoryDrift(tenant: String) async throws -> [String] {
        try await read { sql in
            let index = try await loadDirectory(tenant: tenant, on: sql)
            var stored: [String: String] = [:]
            for row in try await sql.raw("SELECT device_id, effective FROM device_configurations WHERE tenant_id = \(bind: tenant)").all() {
                stored[try row.string("device_id")] = try row.string("effective")
            }
            var drifted: [String] = []
            for configuration in await Self.configurations(of: index.devices.keys.sorted(), in: index)
            where stored[configuration.deviceId] != configuration.effectiveJSON {
                drifted.append(configuration.deviceId)
            }
            return drifted
        }
    }

    // MARK: Finishing a transaction

    /// Applies the transaction's changes to the index, recomputes the affected devices, and
    /// logs the change. Returns the devices whose configuration hash changed.
    private func finish(_ edit: inout DirectoryEdit, on sql: any SQLDatabase) async throws -> Set<String> {
        guard !edit.changes.isEmpty else { return [] }
        let started = ContinuousClock.now
        var affected = try await apply(edit.changes, to: &edit.index, tenant: edit.tenant, on: sql)
        if edit.changes.rebuild { affected = Set(edit.index.devices.keys) }
        let applied = ContinuousClock.now
        let changed = try await recompute(tenant: edit.tenant, devices: affected, index: edit.index, verifyingDocuments: edit.changes.rebuild, on: sql)
        let recomputed = ContinuousClock.now
        edit.version += 1
        try await Self.logDirectoryChanges(edit.changes, version: edit.version, tenant: edit.tenant, on: sql)
        logger.debug("directory change", metadata: [
            "tenant": "\(edit.tenant)", "version": "\(edit.version)", "affected": "\(affected.count)", "changed": "\(changed.count)",
            "apply": "\(applied - started)", "recompute": "\(recomputed - applied)", "log": "\(ContinuousClock.now - recomputed)",
        ])
        return changed
    }

    /// Re-reads each changed entity as the database now holds it and applies it to the index.
    /// Returns the devices whose effective configuration may have changed.
    private func apply(_ changes: DirectoryChanges, to index: inout DirectoryIndex, tenant: String, on sql: any SQLDatabase) async throws -> Set<String> {
        var affected: Set<String> = []
        for chunk in changes.devices.sorted().chunked() {
            var found: Set<String> = []
            for row in try await sql.raw("SELECT \(unsafeRaw: Self.deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all() {
                let device = try Self.device(row).directoryDevice
                found.insert(device.id)
                affected.formUnion(index.upsert(device))
            }
            for id in chunk where !found.contains(id) { index.remove(device: id) }
        }
        if !changes.groups.isEmpty {
            let definitions = try await Self.groupDefinitions(tenant: tenant, ids: changes.groups, on: sql)
            for id in changes.groups.sorted() where definitions[id] == nil && index.groups[id] != nil {
                affected.formUnion(index.removeGroup(id))
            }
            // A new group may nest another new one: define them empty first.
            for id in definitions.keys.sorted() where index.groups[id] == nil {
                try index.setGroup(id, .members(devices: [], groups: []))
            }
            for (id, group) in definitions.sorted(by: { $0.key < $1.key }) {
                do {
                    affected.formUnion(try index.setGroup(id, group))
                } catch {
                    throw StoreError.corrupt("group \(id) cannot be applied to the directory: \(error)")
                }
            }
        }
        if !changes.policies.isEmpty {
            let policies = try await Self.assignedPolicies(tenant: tenant, ids: changes.policies, on: sql)
            for id in changes.policies.sorted() {
                if let policy = policies[id] {
                    affected.formUnion(index.setPolicy(policy))
                } else {
                    affected.formUnion(index.removePolicy(id))
                }
            }
        }
        if changes.scope {
            affected.formUnion(index.setScope(try await Self.tenantSettings(tenant: tenant, on: sql).0))
        }
        return affected
    }

    /// Group definitions as the engine takes them: a rule, or members and nested groups.
    /// `ids` nil reads every group of the tenant.
    static func groupDefinitions(tenant: String, ids: Set<String>?, on sql: any SQLDatabase) async throws -> [String: DirectoryIndex.Group] {
        var rows: [any SQLRow] = []
        if let ids {
            for chunk in ids.sorted().chunked() {
                rows += try await sql.raw("SELECT id, membership_rule FROM device_groups WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all()
            }
        } else {
            rows = try await sql.raw("SELECT id, membership_rule FROM device_groups WHERE tenant_id = \(bind: tenant)").all()
        }
        var result: [String: DirectoryIndex.Group] = [:]
        var staticIds: [String] = []
        for row in rows {
            let id = try row.string("id")
            if let text = try row.optionalString("membership_rule") {
                do {
                    result[id] = .dynamic(try MembershipRuleParser.parse(text))
                } catch {
                    throw StoreError.corrupt("group \(id) has a rule that no longer parses: \(error.description)")
                }
            } else {
                staticIds.append(id)
            }
        }
        var members: [String: Set<String>] = [:]
        var nested: [String: Set<String>] = [:]
        func collect(_ membersQuery: SQLQueryString, _ nestingQuery: SQLQueryString) async throws {
            for row in try await sql.raw(membersQuery).all() { members[try row.string("group_id"), default: []].insert(try row.string("device_id")) }
            for row in try await sql.raw(nestingQuery).all() { nested[try row.string("parent_id"), default: []].insert(try row.string("child_id")) }
        }
        if ids == nil {
            try await collect("""
                SELECT m.group_id, m.device_id FROM group_members m JOIN device_groups g ON g.id = m.group_id
                WHERE g.tenant_id = \(bind: tenant) AND g.membership_rule IS NULL
                """, "SELECT parent_id, child_id FROM group_nesting WHERE tenant_id = \(bind: tenant)")
        } else {
            for chunk in staticIds.chunked() {
                try await collect("SELECT group_id, device_id FROM group_members WHERE group_id IN (\(binds: chunk))",
                                  "SELECT parent_id, child_id FROM group_nesting WHERE parent_id IN (\(binds: chunk))")
            }
        }
        for id in staticIds { result[id] = .members(devices: members[id] ?? [], groups: nested[id] ?? []) }
        return result
    }

    /// Policies with their assignments, as the engine takes them. `ids` nil reads them all.
    static func assignedPolicies(tenant: String, ids: Set<String>?, on sql: any SQLDatabase) async throws -> [String: AssignedPolicy] {
        var policyRows: [any SQLRow] = []
        var assignmentRows: [any SQLRow] = []
        if let ids {
            for chunk in ids.sorted().chunked() {
                policyRows += try await sql.raw("SELECT id, name, revision, platform, settings FROM policies WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all()
                assignmentRows += try await sql.raw("SELECT policy_id, group_id, mode FROM policy_assignments WHERE policy_id IN (\(binds: chunk))").all()
            }
        } else {
            policyRows = try await sql.raw("SELECT id, name, revision, platform, settings FROM policies WHERE tenant_id = \(bind: tenant)").all()
            assignmentRows = try await sql.raw("SELECT policy_id, group_id, mode FROM policy_assignments WHERE tenant_id = \(bind: tenant)").all()
        }
        var include: [String: Set<String>] = [:]
        var exclude: [String: Set<String>] = [:]
        for row in assignmentRows {
            let policy = try row.string("policy_id")
            if try row.string("mode") == "exclude" {
                exclude[policy, default: []].insert(try row.string("group_id"))
            } else {
                include[policy, default: []].insert(try row.string("group_id"))
            }
        }
        var result: [String: AssignedPolicy] = [:]
        for row in policyRows {
            let id = try row.string("id")
            guard let platform = PolicyPlatform(rawValue: try row.string("platform")) else { throw StoreError.corrupt("policy \(id) platform") }
            let snapshot = PolicySnapshot(id: id, name: try row.string("name"), revision: try row.int("revision"), platform: platform,
                                          settings: try row.json("settings", as: [String: JSONValue].self))
            result[id] = AssignedPolicy(policy: snapshot, includeGroups: include[id] ?? [], excludeGroups: exclude[id] ?? [])
        }
        return result
    }

    /// Bumps the tenant's directory version and records what changed in it. The log is kept
    /// for the last 1,000 versions; a replica further behind loads the tenant again.
    static func logDirectoryChanges(_ changes: DirectoryChanges, version: Int64, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO directory_versions (tenant_id, version) VALUES (\(bind: tenant), \(bind: version))
            ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version
            """).run()
        var entries: [LogEntry] = changes.scope ? [LogEntry(kind: "scope", id: "")] : []
        if changes.rebuild { entries.append(LogEntry(kind: "rebuild", id: "")) }
        entries += changes.devices.sorted().map { LogEntry(kind: "device", id: $0) }
        entries += changes.groups.sorted().map { LogEntry(kind: "group", id: $0) }
        entries += changes.policies.sorted().map { LogEntry(kind: "policy", id: $0) }
        for chunk in entries.chunked() {
            try await sql.raw(SQLQueryString.insert(
                "INSERT INTO directory_changes (tenant_id, version, kind, entity_id) VALUES ",
                rows: chunk.map { "(\(bind: tenant), \(bind: version), \(bind: $0.kind), \(bind: $0.id))" })).run()
        }
        if version % 100 == 0 {
            try await sql.raw("DELETE FROM directory_changes WHERE tenant_id = \(bind: tenant) AND version <= \(bind: version - 1000)").run()
        }
    }

    private struct LogEntry: Sendable {
        var kind: String
        var id: String
    }
}

/// What `rebuildDirectory` did.
public struct DirectoryRebuild: Sendable {
    public var devices: Int
    public var groups: Int
    public var duration: Duration
}

extension Device {
    /// The device as the directory engine sees it: admin and agent tags together.
    var directoryDevice: DirectoryIndex.Device {
        DirectoryIndex.Device(id: id, platform: platform, attributes: ruleAttributes, managedBy: managedBy, isRetired: enrollmentStatus == .retired)
    }
}

extension SQLQueryString {
    /// A multi-row statement: `prefix`, the rows separated by commas, `suffix`.
    public static func insert(_ prefix: String, rows: [SQLQueryString], suffix: String = "") -> SQLQueryString {
        var query = SQLQueryString(prefix)
        for (index, row) in rows.enumerated() {
            if index > 0 { query += SQLQueryString(", ") }
            query += row
        }
        query += SQLQueryString(suffix)
        return query
    }
}

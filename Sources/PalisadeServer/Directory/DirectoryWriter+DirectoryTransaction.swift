import Foundation
import Logging
import NIOConcurrencyHelpers
import PalisadeCore
import SQLKit

/// A tenant's directory during one write transaction: the engine, caught up with the
/// database, and what the transaction changed. Mutations say what they touched; the store
/// does the rest when the transaction finishes.
struct DirectoryEdit: Sendable {
    let tenant: String
    /// Read-only for mutations: the index changes only when the transaction finishes.
    fileprivate(set) var index: DirectoryIndex
    fileprivate(set) var version: Int64
    fileprivate(set) var changes = DirectoryChanges()
    /// Devices whose record (key, pending key, status, inventory) changed: caches of them are
    /// dropped here and on other replicas once the transaction commits.
    fileprivate(set) var changedRecords: Set<String> = []

    init(tenant: String, index: DirectoryIndex, version: Int64) {
        self.tenant = tenant
        self.index = index
        self.version = version
    }

    mutating func deviceChanged(_ id: String) {
        changes.devices.insert(id)
        changedRecords.insert(id)
    }
    /// A change to the device's record that no rule reads (a pending key).
    mutating func deviceRecordChanged(_ id: String) { changedRecords.insert(id) }
    mutating func groupChanged(_ id: String) { changes.groups.insert(id) }
    mutating func policyChanged(_ id: String) { changes.policies.insert(id) }
    mutating func scopeChanged() { changes.scope = true }
    mutating func rebuildEverything() { changes.rebuild = true }

    var entry: TenantDirectoryCache.Entry { .init(version: version, index: index) }
}

/// Hands the leased index into the transaction and, if the transaction fails before changing
/// it, back out.
final class DirectoryLease: Sendable {
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

extension DirectoryWriter {
    /// A write transaction for one tenant that changes what devices may receive. `body`
    /// records which devices, groups, policies or scope it changed; then, in the same
    /// transaction, the directory engine re-evaluates memberships for exactly those, the
    /// affected devices' configurations are recomputed and only the changed ones written,
    /// and the change is logged for other replicas. Long-polls of devices whose configuration
    /// changed are woken after commit, here and (PostgreSQL) on every replica.
    ///
    /// The index is leased for the transaction: a failure before `body` returns hands it back
    /// unchanged (it still matches the database); a failure after it was changed drops it, and
    /// the next use loads the tenant again.
    func write<T: Sendable>(tenant: String, reload: Bool = false, _ body: @escaping @Sendable (any SQLDatabase, inout DirectoryEdit) async throws -> T) async throws -> T {
        let lease = DirectoryLease(await directories.lease(tenant))
        if reload { _ = lease.take() }
        let backend = self.backend
        do {
            let started = ContinuousClock.now
            let (result, changed, changedRecords, entry) = try await backend.write(lockKey: "tenant:\(tenant)") { sql in
                let locked = ContinuousClock.now
                var edit = try await openDirectory(tenant: tenant, lease: lease, on: sql)
                let opened = ContinuousClock.now
                let result: T
                do {
                    result = try await body(sql, &edit)
                } catch {
                    lease.keep(edit.entry)
                    throw error
                }
                let body = ContinuousClock.now
                let changed = try await finish(&edit, on: sql)
                try await backend.announceConfigurationChanges(changed, on: sql)
                if !edit.changedRecords.isEmpty { try await backend.announceDeviceRecordChanges(edit.changedRecords, on: sql) }
                logger.debug("directory transaction", metadata: [
                    "lock": "\(locked - started)", "open": "\(opened - locked)", "body": "\(body - opened)", "finish": "\(ContinuousClock.now - body)",
                ])
                return (result, changed, edit.changedRecords, edit.entry)
            }
            logger.debug("directory transaction committed", metadata: ["total": "\(ContinuousClock.now - started)"])
            await directories.release(tenant, entry: entry)
            if !changedRecords.isEmpty { notifier.devicesChanged(changedRecords) }
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
    func read<T: Sendable>(tenant: String, _ body: @Sendable (DirectoryIndex) async throws -> T) async throws -> T {
        if let cached = await directories.committed(tenant),
           try await read({ sql in try await Self.directoryVersion(tenant: tenant, on: sql) }) == cached.version {
            return try await body(cached.index)
        }
        let current = try await write(tenant: tenant) { _, edit in edit.index }
        return try await body(current)
    }

    /// The directory version this replica's cached index reflects, nil when nothing is cached
    /// (never loaded, or dropped after a failed write). For tests and operators.
    public func cachedDirectoryVersion(tenant: String) async -> Int64? {
        await directories.committed(tenant)?.version
    }

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
        try await DirectoryChangeLog.append(edit.changes, version: edit.version, tenant: edit.tenant, on: sql)
        logger.debug("directory change", metadata: [
            "tenant": "\(edit.tenant)", "version": "\(edit.version)", "affected": "\(affected.count)", "changed": "\(changed.count)",
            "apply": "\(applied - started)", "recompute": "\(recomputed - applied)", "log": "\(ContinuousClock.now - recomputed)",
        ])
        return changed
    }

    /// Re-reads each changed entity as the database now holds it and applies it to the index.
    /// Returns the devices whose effective configuration may have changed.
    func apply(_ changes: DirectoryChanges, to index: inout DirectoryIndex, tenant: String, on sql: any SQLDatabase) async throws -> Set<String> {
        var affected: Set<String> = []
        for chunk in changes.devices.sorted().chunked() {
            var found: Set<String> = []
            for row in try await sql.raw("SELECT \(unsafeRaw: PalisadeStore.deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all() {
                let device = try PalisadeStore.device(row).directoryDevice
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
            affected.formUnion(index.setScope(try await TenantSettingsRepository.settings(tenant: tenant, on: sql).0))
        }
        return affected
    }
}

extension Device {
    /// The device as the directory engine sees it: admin and agent tags together.
    var directoryDevice: DirectoryIndex.Device {
        DirectoryIndex.Device(id: id, platform: platform, attributes: ruleAttributes, managedBy: managedBy, isRetired: enrollmentStatus == .retired)
    }
}

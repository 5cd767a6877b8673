import Foundation
import PalisadeCore
import SQLKit

/// The answer to "sync now" (`POST /devices/{id}/sync`, `POST /groups/{id}/sync`).
public struct SyncRequest: Codable, Sendable, Hashable {
    /// How many devices were asked to check in and report (retired devices are not).
    public var devices: Int
    public var requestedAt: Date
}

extension PalisadeStore {
    /// Asks one device to check in and report its full state at once: its long-poll, on
    /// whichever replica holds it, is woken; an offline device is asked on its next check-in.
    /// The request stays until the device reports. Audited (`device.sync`). A retired device
    /// is not asked (0 devices).
    public func requestSync(tenant: String, by actor: AuditActor, device id: String) async throws -> SyncRequest {
        let now = clock.nowMillis
        let (request, woken) = try await write(tenant: tenant) { sql in
            let device = try await Self.device(tenant: tenant, id: id, on: sql)
            let ids = device.enrollmentStatus == .retired ? [] : [id]
            try await Self.markSyncRequested(ids, at: now, on: sql)
            try await backend.announceConfigurationChanges(Set(ids), on: sql)
            try await Self.audit(.deviceSync, by: actor, tenant: tenant, target: ("device", id, device.name), new: ["devices": ids.count], at: now, on: sql)
            return (SyncRequest(devices: ids.count, requestedAt: Timestamp.date(now)), Set(ids))
        }
        await notifier.notify(woken)
        return request
    }

    /// Asks every device of a group (listed, selected by its rule, or in a nested group; not
    /// retired ones) to check in and report at once. One audit event (`group.sync`) names the
    /// group and how many devices were asked.
    public func requestSync(tenant: String, by actor: AuditActor, group id: String) async throws -> SyncRequest {
        let now = clock.nowMillis
        let (request, woken) = try await readDirectory(tenant: tenant) { index in
            let members = index.expandedMembers(of: id)
            return try await write(tenant: tenant) { sql in
                let group = try await Self.group(tenant: tenant, id: id, on: sql)
                // Members as the database holds them now (the index may lag a concurrent retire).
                var ids: [String] = []
                for chunk in members.sorted().chunked() {
                    for row in try await sql.raw("""
                        SELECT id FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk)) AND enrollment_status <> 'retired'
                        """).all() {
                        ids.append(try row.string("id"))
                    }
                }
                try await Self.markSyncRequested(ids, at: now, on: sql)
                try await backend.announceConfigurationChanges(Set(ids), on: sql)
                try await Self.audit(.groupSync, by: actor, tenant: tenant, target: ("group", id, group.name), new: ["devices": ids.count], at: now, on: sql)
                return (SyncRequest(devices: ids.count, requestedAt: Timestamp.date(now)), Set(ids))
            }
        }
        await notifier.notify(woken)
        return request
    }

    static func markSyncRequested(_ ids: [String], at now: Int64, on sql: any SQLDatabase) async throws {
        for chunk in ids.chunked() {
            try await sql.raw("UPDATE devices SET sync_requested_at = \(bind: now), sync_delivered_at = NULL WHERE id IN (\(binds: chunk))").run()
        }
    }

    /// A sync request a check-in carried is carried again only after this long without a
    /// report: the agent reports right after it, and one that cannot (its report waits in its
    /// state directory) would otherwise be answered at once on every check-in.
    public static let syncRedeliveryMillis: Int64 = 300_000

    /// What a check-in compares: the configuration hash, and whether to ask the device to
    /// report (a sync request not yet answered by a report, nor carried by a recent check-in).
    /// Without a pending sync request, the hash comes from this replica's cache when it holds
    /// it: a configuration change or a sync request invalidates it (`notifier.notify`).
    public func checkInState(deviceId: String) async throws -> (hash: String?, reportRequested: Bool) {
        let now = clock.nowMillis
        let cache = notifier.cache
        if let hash = cache.configurationHash(deviceId) { return (hash, false) }
        let generation = cache.generation
        return try await read { sql in
            let row = try await sql.raw("""
                SELECT c.configuration_hash, d.sync_requested_at, d.sync_delivered_at FROM devices d
                LEFT JOIN device_configurations c ON c.device_id = d.id WHERE d.id = \(bind: deviceId)
                """).first()
            guard try row?.optionalMillis("sync_requested_at") != nil else {
                let hash = try row?.optionalString("configuration_hash")
                if row != nil { cache.storeConfigurationHash(hash, deviceId: deviceId, readAt: generation) }
                return (hash, false)
            }
            let delivered = try row?.optionalMillis("sync_delivered_at")
            let due = delivered.map { now - $0 >= Self.syncRedeliveryMillis } ?? true
            return (try row?.optionalString("configuration_hash"), due)
        }
    }

    /// Notes that a check-in carried the device's sync request.
    public func recordSyncDelivered(deviceId: String) async throws {
        let now = clock.nowMillis
        try await backend.write(lockKey: "device:\(deviceId)") { sql in
            try await sql.raw("UPDATE devices SET sync_delivered_at = \(bind: now) WHERE id = \(bind: deviceId) AND sync_requested_at IS NOT NULL").run()
        }
    }
}

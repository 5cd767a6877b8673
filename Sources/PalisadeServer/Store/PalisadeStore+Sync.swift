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
            try await sql.raw("UPDATE devices SET sync_requested_at = \(bind: now) WHERE id IN (\(binds: chunk))").run()
        }
    }

    /// What a check-in compares: the configuration hash, and whether an administrator asked
    /// the device to report (a sync request not yet answered by a report).
    public func checkInState(deviceId: String) async throws -> (hash: String?, reportRequested: Bool) {
        try await read { sql in
            let row = try await sql.raw("""
                SELECT c.configuration_hash, d.sync_requested_at FROM devices d
                LEFT JOIN device_configurations c ON c.device_id = d.id WHERE d.id = \(bind: deviceId)
                """).first()
            return (try row?.optionalString("configuration_hash"), try row?.optionalMillis("sync_requested_at") != nil)
        }
    }
}

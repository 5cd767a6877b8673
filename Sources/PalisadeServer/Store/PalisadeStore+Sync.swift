import Foundation
import PalisadeCore
import SQLKit

/// What a check-in is answered from (`checkInState`).
public struct CheckInState: Sendable, Equatable {
    /// The device's current configuration hash; nil when none was computed yet.
    public var configurationHash: String?
    /// An administrator's "sync now" is due: this check-in carries it.
    public var syncDue = false
    /// The device holds its current configuration and the server has no report of it: ask
    /// for one (at most every `reportRequestRepeatMillis` per device).
    public var reportMissing = false

    /// The answer carries `reportRequested: true` and the whole configuration.
    public var reportRequested: Bool { syncDue || reportMissing }

    public init(configurationHash: String?, syncDue: Bool = false, reportMissing: Bool = false) {
        self.configurationHash = configurationHash
        self.syncDue = syncDue
        self.reportMissing = reportMissing
    }
}

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
            try await Self.markSyncRequested(ids, tenant: tenant, at: now, on: sql)
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
        let (request, woken) = try await directory.read(tenant: tenant) { index in
            let members = index.expandedMembers(of: id)
            return try await write(tenant: tenant) { sql in
                let group = try await GroupRepository.group(tenant: tenant, id: id, on: sql)
                // Members as the database holds them now (the index may lag a concurrent retire).
                var ids: [String] = []
                for chunk in members.sorted().chunked() {
                    for row in try await sql.raw("""
                        SELECT id FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk)) AND enrollment_status <> 'retired'
                        """).all() {
                        ids.append(try row.string("id"))
                    }
                }
                try await Self.markSyncRequested(ids, tenant: tenant, at: now, on: sql)
                try await backend.announceConfigurationChanges(Set(ids), on: sql)
                try await Self.audit(.groupSync, by: actor, tenant: tenant, target: ("group", id, group.name), new: ["devices": ids.count], at: now, on: sql)
                return (SyncRequest(devices: ids.count, requestedAt: Timestamp.date(now)), Set(ids))
            }
        }
        await notifier.notify(woken)
        return request
    }

    static func markSyncRequested(_ ids: [String], tenant: String, at now: Int64, on sql: any SQLDatabase) async throws {
        for chunk in ids.chunked() {
            try await sql.raw("UPDATE devices SET sync_requested_at = \(bind: now), sync_delivered_at = NULL WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").run()
        }
    }

    /// A sync request a check-in carried is carried again only after this long without a
    /// report: the agent reports right after it, and one that cannot (its report waits in its
    /// state directory) would otherwise be answered at once on every check-in.
    public static let syncRedeliveryMillis: Int64 = 300_000

    /// A device that holds its current configuration while the server has no report of it is
    /// asked for one at once, and about the same configuration again at most this often (per
    /// replica): a report refused for good (malformed) must not make the agent re-apply and
    /// report on every check-in.
    public static let reportRequestRepeatMillis: Int64 = 120_000
}

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

    /// What a check-in of a device holding `deviceHash` is answered from: the configuration
    /// hash, and whether to ask the device to report. It is asked when an administrator's sync
    /// request is due (not answered by a report, nor carried by a recent check-in), or when it
    /// holds its current configuration and the server has no report of it: a report lost for
    /// any reason (a crash, a report of an older configuration with the same settings) then
    /// corrects itself. The agent sends any report it holds before it checks in, so a device
    /// that checks in with the current hash and no stored report of it has none on the way.
    ///
    /// Only the steady state is cached on this replica (no sync request, the stored report
    /// about the current configuration): a configuration change or a sync request invalidates
    /// it (`notifier.notify`), and a report cannot unsettle it (one about another
    /// configuration is not stored while one about the current one is).
    public func checkInState(deviceId: String, deviceHash: String?) async throws -> CheckInState {
        let now = clock.nowMillis
        let cache = notifier.cache
        if let hash = cache.configurationHash(deviceId) { return CheckInState(configurationHash: hash) }
        let generation = cache.generation
        let (state, configuration) = try await read { sql -> (CheckInState, String?) in
            guard let row = try await sql.raw("""
                SELECT c.configuration_hash, c.effective_digest, d.sync_requested_at, d.sync_delivered_at, r.configuration_hash AS reported_hash
                FROM devices d LEFT JOIN device_configurations c ON c.device_id = d.id LEFT JOIN device_reports r ON r.device_id = d.id
                WHERE d.id = \(bind: deviceId)
                """).first() else {
                return (CheckInState(configurationHash: nil), nil)
            }
            let hash = try row.optionalString("configuration_hash")
            let reportedHash = try row.optionalString("reported_hash")
            let reported = hash == nil || reportedHash == hash
            // Which configuration it is (a new revision with the same hash is a new document).
            let configuration = try row.optionalString("effective_digest") ?? hash
            guard try row.optionalMillis("sync_requested_at") != nil else {
                if reported { cache.storeConfigurationHash(hash, deviceId: deviceId, readAt: generation) }
                return (CheckInState(configurationHash: hash, reportMissing: !reported), configuration)
            }
            let delivered = try row.optionalMillis("sync_delivered_at")
            return (CheckInState(configurationHash: hash, syncDue: delivered.map { now - $0 >= Self.syncRedeliveryMillis } ?? true, reportMissing: !reported),
                    configuration)
        }
        // Missing matters only for the configuration the device says it holds.
        var checked = state
        if let configuration, checked.reportMissing {
            checked.reportMissing = deviceHash != nil && deviceHash == state.configurationHash
                && cache.askForReport(deviceId, configuration: configuration, at: now, interval: Self.reportRequestRepeatMillis)
        } else {
            checked.reportMissing = false
        }
        return checked
    }

    /// Notes that a check-in carried the device's sync request.
    public func recordSyncDelivered(deviceId: String) async throws {
        let now = clock.nowMillis
        try await backend.write(lockKey: "device:\(deviceId)") { sql in
            try await sql.raw("UPDATE devices SET sync_delivered_at = \(bind: now) WHERE id = \(bind: deviceId) AND sync_requested_at IS NOT NULL").run()
        }
    }
}

import Foundation
import PalisadeCore
import SQLKit

/// The device protocol's statements: enrollment, credentials, check-ins and status reports.
/// Before the device is known (an enrollment token's hash, the credentials an assertion is
/// checked against) a statement finds the tenant; every statement after it is scoped by that
/// tenant. Keyed by device, the tenant filter is written `sql.tenantColumnBesideKeys`, so that
/// SQLite searches by the key (`TenantFilterTests`).
enum DeviceProtocolRepository {
    // MARK: Enrollment

    /// The tenant of the enrollment token with this hash (before any tenant is known).
    static func enrollmentTokenTenant(tokenHash: String, on sql: any SQLDatabase) async throws -> String? {
        try await sql.raw("SELECT tenant_id FROM enrollment_tokens WHERE token_hash = \(bind: tokenHash)").first()?.string("tenant_id")
    }

    static func enrollmentToken(tokenHash: String, tenant: String, on sql: any SQLDatabase) async throws -> EnrollmentToken? {
        try await sql.raw("""
            SELECT \(unsafeRaw: EnrollmentTokenRepository.columns) FROM enrollment_tokens
            WHERE tenant_id = \(bind: tenant) AND token_hash = \(bind: tokenHash)
            """).first().map(EnrollmentTokenRepository.token)
    }

    static func countEnrollmentTokenUse(id: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("UPDATE enrollment_tokens SET uses = uses + 1 WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
    }

    /// The device enrolled with this hardware id in the tenant, with its key.
    static func device(hardwareId: String, tenant: String, on sql: any SQLDatabase) async throws -> (id: String, publicKey: String)? {
        guard let row = try await sql.raw("""
            SELECT id, public_key FROM devices WHERE tenant_id = \(bind: tenant) AND hardware_id = \(bind: hardwareId)
            """).first() else { return nil }
        return (try row.string("id"), try row.string("public_key"))
    }

    /// A re-enrollment's key, waiting for an administrator's approval.
    static func setPendingKey(_ publicKey: String, since now: Int64, source: String?, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE devices SET pending_public_key = \(bind: publicKey), pending_since = \(bind: now), pending_source = \(bind: source)
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: deviceId)
            """).run()
    }

    /// The columns an enrollment writes from the agent's inventory.
    struct EnrolledInventory {
        var inventory: DeviceProtocol.Inventory
        var publicKey: String

        var defenderInstalled: Int? { (inventory.defender?.installed ?? inventory.defenderInstalled).map { $0 ? 1 : 0 } }
        func defender() throws -> String? { try inventory.defender.map { try encodeJSON($0) } }
        func agentTags() throws -> String { try encodeJSON(inventory.tags ?? []) }
    }

    static func reenroll(_ enrolled: EnrolledInventory, at now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        let inventory = enrolled.inventory
        try await sql.raw("""
            UPDATE devices SET name = \(bind: inventory.hostname), platform = \(bind: inventory.platform.rawValue),
                os_version = \(bind: inventory.osVersion), agent_version = \(bind: inventory.agentVersion),
                managed_by = \(bind: inventory.managementChannel.rawValue), mdm_enrolled = \(bind: inventory.mdmEnrolled ? 1 : 0),
                defender_installed = \(bind: enrolled.defenderInstalled), defender = \(bind: try enrolled.defender()), public_key = \(bind: enrolled.publicKey),
                enrolled_at = \(bind: now), agent_tags = \(bind: try enrolled.agentTags()), pending_public_key = NULL, pending_since = NULL, pending_source = NULL
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: deviceId)
            """).run()
    }

    static func insertDevice(_ enrolled: EnrolledInventory, at now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        let inventory = enrolled.inventory
        try await sql.raw("""
            INSERT INTO devices (id, tenant_id, name, platform, os_version, hardware_id, agent_version, managed_by,
                mdm_enrolled, defender_installed, defender, enrollment_status, public_key, tags, agent_tags, enrolled_at, last_check_in_at, retired_at)
            VALUES (\(bind: deviceId), \(bind: tenant), \(bind: inventory.hostname), \(bind: inventory.platform.rawValue),
                \(bind: inventory.osVersion), \(bind: inventory.hardwareId), \(bind: inventory.agentVersion), \(bind: inventory.managementChannel.rawValue),
                \(bind: inventory.mdmEnrolled ? 1 : 0), \(bind: enrolled.defenderInstalled), \(bind: try enrolled.defender()), 'enrolled', \(bind: enrolled.publicKey), '[]',
                \(bind: try enrolled.agentTags()), \(bind: now), NULL, NULL)
            """).run()
    }

    // MARK: Credentials

    /// What an assertion of this device is checked against (before any tenant is known: the
    /// device's id names it, and its key then proves the request).
    static func credentials(deviceId: String, on sql: any SQLDatabase) async throws -> DeviceCredentials? {
        guard let row = try await sql.raw("SELECT tenant_id, public_key, pending_public_key, enrollment_status FROM devices WHERE id = \(bind: deviceId)").first() else {
            return nil
        }
        return DeviceCredentials(
            deviceId: deviceId, tenantId: try row.string("tenant_id"), publicKeyPEM: try row.string("public_key"),
            pendingPublicKeyPEM: try row.optionalString("pending_public_key"),
            status: EnrollmentStatus(rawValue: try row.string("enrollment_status")) ?? .retired)
    }

    // MARK: Check-ins

    /// What a check-in is answered from: the configuration, the sync request and the stored
    /// report's hash, in one statement.
    struct CheckInRow {
        var configurationHash: String?
        var effectiveDigest: String?
        var syncRequestedAt: Int64?
        var syncDeliveredAt: Int64?
        var reportedHash: String?
    }

    static func checkInRow(deviceId: String, tenant: String, on sql: any SQLDatabase) async throws -> CheckInRow? {
        guard let row = try await sql.raw("""
            SELECT c.configuration_hash, c.effective_digest, d.sync_requested_at, d.sync_delivered_at, r.configuration_hash AS reported_hash
            FROM devices d LEFT JOIN device_configurations c ON c.device_id = d.id LEFT JOIN device_reports r ON r.device_id = d.id
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys(table: "d")) = \(bind: tenant) AND d.id = \(bind: deviceId)
            """).first() else { return nil }
        return CheckInRow(configurationHash: try row.optionalString("configuration_hash"), effectiveDigest: try row.optionalString("effective_digest"),
                          syncRequestedAt: try row.optionalMillis("sync_requested_at"), syncDeliveredAt: try row.optionalMillis("sync_delivered_at"),
                          reportedHash: try row.optionalString("reported_hash"))
    }

    static func configurationHash(deviceId: String, tenant: String, on sql: any SQLDatabase) async throws -> String? {
        try await sql.raw("""
            SELECT configuration_hash FROM device_configurations WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND device_id = \(bind: deviceId)
            """).first()?.string("configuration_hash")
    }

    /// The device's configuration hash and the digest of its document; `lockRow` takes the
    /// row's lock (PostgreSQL, inside a write).
    static func configurationDigest(deviceId: String, tenant: String, lockRow: Bool, on sql: any SQLDatabase) async throws -> (hash: String, digest: String?)? {
        let forUpdate: SQLQueryString = lockRow ? " FOR UPDATE" : ""
        guard let row = try await sql.raw("""
            SELECT configuration_hash, effective_digest FROM device_configurations
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND device_id = \(bind: deviceId)\(forUpdate)
            """).first() else { return nil }
        return (try row.string("configuration_hash"), try row.optionalString("effective_digest"))
    }

    /// The device's effective configuration document, as stored.
    static func effectiveDocument(deviceId: String, tenant: String, on sql: any SQLDatabase) async throws -> String? {
        try await sql.raw("""
            SELECT effective FROM device_configurations WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND device_id = \(bind: deviceId)
            """).first()?.string("effective")
    }

    /// What rules read of the device's inventory.
    static func updateInventory(_ inventory: DeviceProtocol.Inventory, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE devices SET name = \(bind: inventory.hostname), os_version = \(bind: inventory.osVersion),
                agent_version = \(bind: inventory.agentVersion), mdm_enrolled = \(bind: inventory.mdmEnrolled ? 1 : 0),
                agent_tags = \(bind: try encodeJSON(inventory.tags ?? [])), managed_by = \(bind: inventory.managementChannel.rawValue)
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: deviceId)
            """).run()
    }

    static func setLastCheckIn(_ now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE devices SET last_check_in_at = \(bind: now) WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: deviceId)
            """).run()
    }

    static func storeDefender(_ status: DefenderStatus, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE devices SET defender = \(bind: try encodeJSON(status)), defender_installed = \(bind: status.installed ? 1 : 0)
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: deviceId)
            """).run()
    }

    static func setDelivered(_ hash: String, at now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE device_configurations SET delivered_hash = \(bind: hash), delivered_at = \(bind: now)
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND device_id = \(bind: deviceId)
            """).run()
    }

    static func setSyncDelivered(at now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE devices SET sync_delivered_at = \(bind: now)
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: deviceId) AND sync_requested_at IS NOT NULL
            """).run()
    }

    // MARK: Status reports

    /// Locks the device's row (PostgreSQL): a report takes the device, then its configuration,
    /// in the order a recompute does.
    static func lockDevice(_ deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("SELECT id FROM devices WHERE tenant_id = \(bind: tenant) AND id = \(bind: deviceId) FOR UPDATE").run()
    }

    /// Keeps a drift event once (the agent's id); true when it is new.
    static func insertDriftEvent(_ event: DriftEvent, receivedAt now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.raw("""
            INSERT INTO device_drift_events (id, device_id, tenant_id, setting_id, found_value, restored_value, detail, detected_at, received_at)
            VALUES (\(bind: event.id), \(bind: deviceId), \(bind: tenant), \(bind: event.settingId), \(bind: try event.found.map(encodeJSON)),
                \(bind: try event.restored.map(encodeJSON)), \(bind: event.detail),
                \(bind: Int64((DefenderStatus.date(event.detectedAt) ?? Timestamp.date(now)).timeIntervalSince1970 * 1000)), \(bind: now))
            ON CONFLICT (device_id, id) DO NOTHING RETURNING id
            """).first() != nil
    }

    /// Clears a sync request made before `now`; true when there was one.
    static func answerSync(at now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.raw("""
            UPDATE devices SET sync_requested_at = NULL, sync_delivered_at = NULL
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: deviceId) AND sync_requested_at <= \(bind: now) RETURNING id
            """).first() != nil
    }

    /// The stored report's hash, results (as stored) and detail.
    static func storedReport(deviceId: String, tenant: String, on sql: any SQLDatabase) async throws -> (hash: String, results: String, detail: String?)? {
        guard let row = try await sql.raw("""
            SELECT configuration_hash, results, detail FROM device_reports WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND device_id = \(bind: deviceId)
            """).first() else { return nil }
        return (try row.string("configuration_hash"), try row.string("results"), try row.optionalString("detail"))
    }

    static func touchReport(at now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE device_reports SET reported_at = \(bind: now) WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND device_id = \(bind: deviceId)
            """).run()
    }

    static func storeReport(hash: String, results: String, detail: String?, at now: Int64, deviceId: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO device_reports (device_id, tenant_id, configuration_hash, results, detail, reported_at)
            VALUES (\(bind: deviceId), \(bind: tenant), \(bind: hash), \(bind: results), \(bind: detail), \(bind: now))
            ON CONFLICT (device_id) DO UPDATE SET configuration_hash = excluded.configuration_hash,
                results = excluded.results, detail = excluded.detail, reported_at = excluded.reported_at
            """).run()
    }
}

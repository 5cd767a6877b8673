import Foundation
import PalisadeCore
import SQLKit

/// The admin-side writes to a device row (retirement, tags, an approved key). The row's
/// columns and mapping are `PalisadeStore.deviceColumns` / `PalisadeStore.device(_:)`, shared
/// with the device protocol.
enum DeviceRepository {
    /// The hardware id moves aside (a tombstone takes its place), so the same hardware
    /// enrolling again gets a new record; a pending re-enrollment is dropped.
    static func retire(id: String, tenant: String, at now: Int64, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE devices SET enrollment_status = 'retired', retired_at = \(bind: now), original_hardware_id = hardware_id,
                hardware_id = \(bind: "retired:" + id), pending_public_key = NULL, pending_since = NULL, pending_source = NULL
            WHERE tenant_id = \(bind: tenant) AND id = \(bind: id) AND enrollment_status <> 'retired'
            """).run()
    }

    static func setTags(_ tags: [String], id: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("UPDATE devices SET tags = \(bind: try encodeJSON(tags)) WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
    }

    /// The pending key becomes the device's key.
    static func approvePendingKey(id: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE devices SET public_key = pending_public_key, pending_public_key = NULL, pending_since = NULL, pending_source = NULL
            WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)
            """).run()
    }

    /// Devices whose id or name is one of `entries` (each device once).
    static func idsAndNames(matching entries: [String], tenant: String, on sql: any SQLDatabase) async throws -> [(id: String, name: String)] {
        var found: [String: String] = [:]
        for chunk in entries.chunked() {
            // Two searches, each by its own index, and no ordered merge: with `id IN ... OR
            // name IN ...`, or a UNION, SQLite walked the tenant's whole index.
            let rows = try await sql.raw("""
                SELECT id, name FROM devices WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id IN (\(binds: chunk))
                UNION ALL SELECT id, name FROM devices WHERE tenant_id = \(bind: tenant) AND name IN (\(binds: chunk))
                """).all()
            for row in rows { found[try row.string("id")] = try row.string("name") }
        }
        return found.sorted { $0.key < $1.key }.map { (id: $0.key, name: $0.value) }
    }
}

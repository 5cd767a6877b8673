import Foundation
import PalisadeCore
import SQLKit

/// A tenant's settings row (enforcement scope, device settings); defaults when none is stored.
enum TenantSettingsRepository {
    static func settings(tenant: String, on sql: any SQLDatabase) async throws -> (EnforcementScope, DeviceSettings) {
        guard let row = try await sql.raw("SELECT enforcement, stale_after_days FROM tenant_settings WHERE tenant_id = \(bind: tenant)").first() else {
            return (.everything, .defaults)
        }
        return (try row.json("enforcement", as: EnforcementScope.self), DeviceSettings(staleAfterDays: try row.int("stale_after_days")))
    }

    static func save(tenant: String, scope: EnforcementScope, devices: DeviceSettings, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO tenant_settings (tenant_id, enforcement, stale_after_days)
            VALUES (\(bind: tenant), \(bind: try encodeJSON(scope)), \(bind: devices.staleAfterDays))
            ON CONFLICT (tenant_id) DO UPDATE SET enforcement = excluded.enforcement, stale_after_days = excluded.stale_after_days
            """).run()
    }
}

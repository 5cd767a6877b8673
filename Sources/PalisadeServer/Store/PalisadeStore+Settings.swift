import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    static func tenantSettings(tenant: String, on sql: any SQLDatabase) async throws -> (EnforcementScope, DeviceSettings) {
        guard let row = try await sql.raw("SELECT enforcement, stale_after_days FROM tenant_settings WHERE tenant_id = \(bind: tenant)").first() else {
            return (.everything, .defaults)
        }
        return (try row.json("enforcement", as: EnforcementScope.self), DeviceSettings(staleAfterDays: try row.int("stale_after_days")))
    }

    public func enforcement(tenant: String) async throws -> EnforcementScope {
        try await read { sql in try await Self.tenantSettings(tenant: tenant, on: sql).0 }
    }

    public func deviceSettings(tenant: String) async throws -> DeviceSettings {
        try await read { sql in try await Self.tenantSettings(tenant: tenant, on: sql).1 }
    }

    /// Stores the enforcement scope and recomputes every device of the tenant: devices that
    /// leave the scope get an empty configuration, devices that enter it get theirs.
    public func setEnforcement(tenant: String, by actor: AuditActor, _ scope: EnforcementScope) async throws -> EnforcementScope {
        var scope = scope
        if let tag = scope.tag { scope.tag = try InputRules.scopeTag(tag) }
        if scope.scope == .tagged, scope.tag == nil {
            throw DomainError.invalid("scope \"tagged\" needs a tag", field: "tag")
        }
        let validated = scope
        let now = clock.nowMillis
        return try await writeDirectory(tenant: tenant) { sql, directory in
            let (old, settings) = try await Self.tenantSettings(tenant: tenant, on: sql)
            try await Self.saveSettings(tenant: tenant, scope: validated, devices: settings, on: sql)
            directory.scopeChanged()
            try await Self.audit(.settingsEnforcement, by: actor, tenant: tenant, target: ("tenantSettings", tenant, "enforcement"),
                                 old: old, new: validated, at: now, on: sql)
            return validated
        }
    }

    public func setDeviceSettings(tenant: String, by actor: AuditActor, _ settings: DeviceSettings) async throws -> DeviceSettings {
        guard (1...3650).contains(settings.staleAfterDays) else {
            throw DomainError.invalid("staleAfterDays must be from 1 to 3650, got \(settings.staleAfterDays)", field: "staleAfterDays")
        }
        let now = clock.nowMillis
        return try await write(tenant: tenant) { sql in
            let (scope, old) = try await Self.tenantSettings(tenant: tenant, on: sql)
            try await Self.saveSettings(tenant: tenant, scope: scope, devices: settings, on: sql)
            try await Self.audit(.settingsDevices, by: actor, tenant: tenant, target: ("tenantSettings", tenant, "devices"),
                                 old: old, new: settings, at: now, on: sql)
            return settings
        }
    }

    static func saveSettings(tenant: String, scope: EnforcementScope, devices: DeviceSettings, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO tenant_settings (tenant_id, enforcement, stale_after_days)
            VALUES (\(bind: tenant), \(bind: try encodeJSON(scope)), \(bind: devices.staleAfterDays))
            ON CONFLICT (tenant_id) DO UPDATE SET enforcement = excluded.enforcement, stale_after_days = excluded.stale_after_days
            """).run()
    }
}

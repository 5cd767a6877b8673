import Foundation
import PalisadeCore

/// A tenant's settings: which devices Palisade enforces on (the scope) and when a device
/// counts as stale. The one place their rules live, for the API, the pages and apply.
public struct TenantSettingsService: Sendable {
    let store: PalisadeStore

    public init(store: PalisadeStore) {
        self.store = store
    }

    /// The scope as stored: a tag trimmed and checked, and a tag whenever the scope is "tagged".
    static func validated(_ scope: EnforcementScope) throws -> EnforcementScope {
        var scope = scope
        if let tag = scope.tag { scope.tag = try InputRules.scopeTag(tag) }
        if scope.scope == .tagged, scope.tag == nil {
            throw DomainError.invalid("scope \"tagged\" needs a tag", field: "tag")
        }
        return scope
    }

    static func validated(_ settings: DeviceSettings) throws -> DeviceSettings {
        guard (1...3650).contains(settings.staleAfterDays) else {
            throw DomainError.invalid("staleAfterDays must be from 1 to 3650, got \(settings.staleAfterDays)", field: "staleAfterDays")
        }
        return settings
    }

    public func enforcement(tenant: String) async throws -> EnforcementScope {
        try await store.read { sql in try await TenantSettingsRepository.settings(tenant: tenant, on: sql).0 }
    }

    public func deviceSettings(tenant: String) async throws -> DeviceSettings {
        try await store.read { sql in try await TenantSettingsRepository.settings(tenant: tenant, on: sql).1 }
    }

    /// Stores the enforcement scope and recomputes every device of the tenant: devices that
    /// leave the scope get an empty configuration, devices that enter it get theirs.
    public func setEnforcement(tenant: String, by actor: AuditActor, _ scope: EnforcementScope) async throws -> EnforcementScope {
        let validated = try Self.validated(scope)
        let now = store.clock.nowMillis
        return try await store.directory.write(tenant: tenant) { sql, directory in
            let (old, settings) = try await TenantSettingsRepository.settings(tenant: tenant, on: sql)
            try await TenantSettingsRepository.save(tenant: tenant, scope: validated, devices: settings, on: sql)
            directory.scopeChanged()
            try await PalisadeStore.audit(.settingsEnforcement, by: actor, tenant: tenant, target: ("tenantSettings", tenant, "enforcement"),
                                          old: old, new: validated, at: now, on: sql)
            return validated
        }
    }

    /// The enforcement scope and the device settings together (the admin center's one form):
    /// both are judged before anything is stored, and stored in one transaction, so a refusal
    /// of one half saves nothing. Audited as the two changes they are.
    public func set(tenant: String, by actor: AuditActor, enforcement scope: EnforcementScope, devices: DeviceSettings) async throws -> (EnforcementScope, DeviceSettings) {
        let scope = try Self.validated(scope)
        let devices = try Self.validated(devices)
        let now = store.clock.nowMillis
        return try await store.directory.write(tenant: tenant) { sql, directory in
            let (oldScope, oldDevices) = try await TenantSettingsRepository.settings(tenant: tenant, on: sql)
            try await TenantSettingsRepository.save(tenant: tenant, scope: scope, devices: devices, on: sql)
            directory.scopeChanged()
            try await PalisadeStore.audit(.settingsEnforcement, by: actor, tenant: tenant, target: ("tenantSettings", tenant, "enforcement"),
                                          old: oldScope, new: scope, at: now, on: sql)
            try await PalisadeStore.audit(.settingsDevices, by: actor, tenant: tenant, target: ("tenantSettings", tenant, "devices"),
                                          old: oldDevices, new: devices, at: now, on: sql)
            return (scope, devices)
        }
    }

    /// Device settings change no device's configuration: a plain write under the tenant's lock.
    public func setDeviceSettings(tenant: String, by actor: AuditActor, _ settings: DeviceSettings) async throws -> DeviceSettings {
        let settings = try Self.validated(settings)
        let now = store.clock.nowMillis
        return try await store.write(tenant: tenant) { sql in
            let (scope, old) = try await TenantSettingsRepository.settings(tenant: tenant, on: sql)
            try await TenantSettingsRepository.save(tenant: tenant, scope: scope, devices: settings, on: sql)
            try await PalisadeStore.audit(.settingsDevices, by: actor, tenant: tenant, target: ("tenantSettings", tenant, "devices"),
                                          old: old, new: settings, at: now, on: sql)
            return settings
        }
    }
}

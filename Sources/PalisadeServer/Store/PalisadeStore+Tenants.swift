import Foundation
import PalisadeCore
import SQLKit

/// What a new tenant's owner receives: the token is shown once and stored only hashed.
public struct TenantCredentials: Sendable {
    public var tenant: Tenant
    public var ownerToken: String
}

extension PalisadeStore {
    public func createTenant(name: String) async throws -> TenantCredentials {
        let trimmed = try InputRules.name(name, maximumLength: 100)
        let now = clock.nowMillis
        return try await backend.write(lockKey: "tenants") { sql in
            try await Self.insertTenant(named: trimmed, at: now, on: sql)
        }
    }

    static func insertTenant(named name: String, at now: Int64, on sql: any SQLDatabase) async throws -> TenantCredentials {
        let existing = try await sql.raw("SELECT id FROM tenants WHERE name = \(bind: name)").first()
        if existing != nil {
            throw DomainError(.conflict, code: .tenantExists, message: "a tenant named \"\(name)\" already exists")
        }
        let tenant = Tenant(id: Identifier.make(), name: name, createdAt: Timestamp.date(now))
        let token = Identifier.secret(prefix: "pat_")
        try await sql.raw("INSERT INTO tenants (id, name, created_at) VALUES (\(bind: tenant.id), \(bind: name), \(bind: now))").run()
        let tokenId = Identifier.make()
        try await sql.raw("""
            INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, created_at)
            VALUES (\(bind: tokenId), \(bind: tenant.id), 'owner', 'administrator', \(bind: Digest.sha256Hex(Data(token.utf8))), \(bind: now))
            """).run()
        let actor = AuditActor.system("palisade")
        try await audit(.tenantCreate, by: actor, tenant: tenant.id, target: ("tenant", tenant.id, name), new: tenant, at: now, on: sql)
        try await audit(.apiTokenCreate, by: actor, tenant: tenant.id, target: ("apiToken", tokenId, "owner"),
                        new: ["name": "owner", "role": JSONValue.string(Role.administrator.rawValue)], at: now, on: sql)
        return TenantCredentials(tenant: tenant, ownerToken: token)
    }

    /// On first start with an empty store: creates the `default` tenant and returns its owner
    /// credentials; nil when tenants exist already. Safe when several replicas start together.
    public func bootstrapIfEmpty() async throws -> TenantCredentials? {
        let now = clock.nowMillis
        return try await backend.write(lockKey: "tenants") { sql in
            let count = try await sql.raw("SELECT COUNT(*) AS n FROM tenants").first()?.int("n") ?? 0
            guard count == 0 else { return nil }
            return try await Self.insertTenant(named: "default", at: now, on: sql)
        }
    }

    public func tenants() async throws -> [Tenant] {
        try await read { sql in
            try await sql.raw("SELECT id, name, created_at FROM tenants ORDER BY name").all().map {
                Tenant(id: try $0.string("id"), name: try $0.string("name"), createdAt: Timestamp.date(try $0.millis("created_at")))
            }
        }
    }

    /// The tenant of that name (the CLI names tenants, not ids).
    public func tenant(named name: String) async throws -> Tenant {
        guard let tenant = try await tenants().first(where: { $0.name == name }) else {
            throw DomainError(.notFound, code: .notFound, message: "no tenant is named \"\(name)\"")
        }
        return tenant
    }
}

import Foundation
import PalisadeCore
import SQLKit

/// People and API tokens in SQL. Only hashes of passwords and token secrets are stored.
enum AccessRepository {
    static let apiTokenColumns = "id, name, role, created_at, created_by, expires_at, last_used_at, revoked_at"

    static func apiToken(_ row: any SQLRow) throws -> APIToken {
        guard let role = Role(stored: try row.string("role")) else { throw StoreError.corrupt("api token role \(try row.string("role"))") }
        return APIToken(id: try row.string("id"), name: try row.string("name"), role: role, createdAt: Timestamp.date(try row.millis("created_at")),
                        createdBy: try row.string("created_by"), expiresAt: Timestamp.optionalDate(try row.optionalMillis("expires_at")),
                        lastUsedAt: Timestamp.optionalDate(try row.optionalMillis("last_used_at")),
                        revokedAt: Timestamp.optionalDate(try row.optionalMillis("revoked_at")))
    }

    static func insertAPIToken(_ record: APIToken, secretHash: String, createdAt: Int64, expiresAt: Int64?, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, created_at, expires_at, created_by)
            VALUES (\(bind: record.id), \(bind: tenant), \(bind: record.name), \(bind: record.role.rawValue), \(bind: secretHash),
                \(bind: createdAt), \(bind: expiresAt), \(bind: record.createdBy))
            """).run()
    }

    static func apiTokens(tenant: String, limit: Int, after cursor: String?, on sql: any SQLDatabase) async throws -> Page<APIToken> {
        let rows = try await sql.raw("""
            SELECT \(unsafeRaw: apiTokenColumns) FROM api_tokens
            WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
            """).all()
        return Page(fetched: try rows.map(apiToken), limit: limit, id: \.id)
    }

    static func apiToken(tenant: String, id: String, on sql: any SQLDatabase) async throws -> APIToken {
        guard let row = try await sql.raw("SELECT \(unsafeRaw: apiTokenColumns) FROM api_tokens WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first() else {
            throw DomainError.notFound("API token", id: id)
        }
        return try apiToken(row)
    }

    static func revokeAPIToken(tenant: String, id: String, at now: Int64, on sql: any SQLDatabase) async throws {
        try await sql.raw("UPDATE api_tokens SET revoked_at = \(bind: now) WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
    }

    /// Emails are unique across tenants: sign-in finds the tenant from the email.
    static func emailIsTaken(_ email: String, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.raw("SELECT id FROM users WHERE email = \(bind: email)").first() != nil
    }

    static func insertUser(_ user: User, passwordHash: String, at now: Int64, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO users (id, tenant_id, email, display_name, role, password_hash, failed_sign_ins, locked_until, created_at, updated_at)
            VALUES (\(bind: user.id), \(bind: tenant), \(bind: user.email), \(bind: user.displayName), \(bind: user.role.rawValue), \(bind: passwordHash), 0, NULL, \(bind: now), \(bind: now))
            """).run()
    }

    static func users(tenant: String, limit: Int, after cursor: String?, on sql: any SQLDatabase) async throws -> Page<User> {
        let rows = try await sql.raw("""
            SELECT \(unsafeRaw: PalisadeStore.userColumns) FROM users WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
            """).all()
        return Page(fetched: try rows.map(PalisadeStore.user), limit: limit, id: \.id)
    }

    static func user(tenant: String, id: String, on sql: any SQLDatabase) async throws -> User {
        guard let row = try await sql.raw("SELECT \(unsafeRaw: PalisadeStore.userColumns) FROM users WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first() else {
            throw DomainError.notFound("user", id: id)
        }
        return try PalisadeStore.user(row)
    }

    static func updateUser(_ user: User, at now: Int64, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE users SET display_name = \(bind: user.displayName), role = \(bind: user.role.rawValue), updated_at = \(bind: now)
            WHERE tenant_id = \(bind: tenant) AND id = \(bind: user.id)
            """).run()
    }

    /// A new password also lifts a lockout.
    static func setPasswordHash(_ hash: String, user id: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE users SET password_hash = \(bind: hash), failed_sign_ins = 0, locked_until = NULL WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)
            """).run()
    }

    static func endSessions(of user: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("DELETE FROM sessions WHERE tenant_id = \(bind: tenant) AND user_id = \(bind: user)").run()
    }

    static func deleteUser(_ id: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await endSessions(of: id, tenant: tenant, on: sql)
        try await sql.raw("DELETE FROM users WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
    }
}

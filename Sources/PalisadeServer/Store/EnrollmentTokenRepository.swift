import Foundation
import PalisadeCore
import SQLKit

/// Enrollment tokens in SQL. Only a hash of each secret is stored.
enum EnrollmentTokenRepository {
    static let columns = "id, name, expires_at, max_uses, uses, revoked_at, created_at, allow_reenrollment"

    static func token(_ row: any SQLRow) throws -> EnrollmentToken {
        EnrollmentToken(
            id: try row.string("id"), name: try row.string("name"),
            expiresAt: Timestamp.date(try row.millis("expires_at")), maxUses: try row.optionalInt("max_uses"),
            uses: try row.int("uses"), revokedAt: Timestamp.optionalDate(try row.optionalMillis("revoked_at")),
            createdAt: Timestamp.date(try row.millis("created_at")), allowReenrollment: try row.int("allow_reenrollment") != 0)
    }

    /// `expiresAt` and `createdAt` in milliseconds, as the record's dates were made from them.
    static func insert(_ record: EnrollmentToken, secretHash: String, expiresAt: Int64, createdAt: Int64, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO enrollment_tokens (id, tenant_id, name, token_hash, expires_at, max_uses, uses, revoked_at, created_at, allow_reenrollment)
            VALUES (\(bind: record.id), \(bind: tenant), \(bind: record.name), \(bind: secretHash), \(bind: expiresAt),
                \(bind: record.maxUses), 0, NULL, \(bind: createdAt), \(bind: record.allowReenrollment ? 1 : 0))
            """).run()
    }

    static func page(tenant: String, limit: Int, after cursor: String?, on sql: any SQLDatabase) async throws -> Page<EnrollmentToken> {
        let rows = try await sql.raw("""
            SELECT \(unsafeRaw: columns) FROM enrollment_tokens
            WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
            """).all()
        return Page(fetched: try rows.map(token), limit: limit, id: \.id)
    }

    static func token(tenant: String, id: String, on sql: any SQLDatabase) async throws -> EnrollmentToken {
        guard let token = try await sql.raw("""
            SELECT \(unsafeRaw: columns) FROM enrollment_tokens WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)
            """).first().map(token) else {
            throw DomainError.notFound("enrollment token", id: id)
        }
        return token
    }

    static func revoke(tenant: String, id: String, at now: Int64, on sql: any SQLDatabase) async throws {
        try await sql.raw("UPDATE enrollment_tokens SET revoked_at = \(bind: now) WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
    }
}

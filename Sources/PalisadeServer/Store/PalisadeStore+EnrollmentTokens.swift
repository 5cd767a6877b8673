import Foundation
import PalisadeCore
import SQLKit

public struct CreatedEnrollmentToken: Sendable {
    public var record: EnrollmentToken
    public var token: String
}

extension PalisadeStore {
    static let maximumEnrollmentTokenHours = 24 * 365
    static let maximumEnrollmentTokenUses = 1_000_000

    public func createEnrollmentToken(tenant: String, by actor: AuditActor, name: String, expiresInHours: Int, maxUses: Int?, allowReenrollment: Bool = false) async throws -> CreatedEnrollmentToken {
        let name = try InputRules.name(name)
        guard (1...Self.maximumEnrollmentTokenHours).contains(expiresInHours) else {
            throw DomainError.invalid("expiresInHours must be from 1 to \(Self.maximumEnrollmentTokenHours), got \(expiresInHours)", field: "expiresInHours")
        }
        if let maxUses, !(1...Self.maximumEnrollmentTokenUses).contains(maxUses) {
            throw DomainError.invalid("maxUses must be from 1 to \(Self.maximumEnrollmentTokenUses), got \(maxUses)", field: "maxUses")
        }
        let now = clock.nowMillis
        let expires = now + Int64(expiresInHours) * 3_600_000
        let token = Identifier.secret(prefix: "pet_")
        let record = EnrollmentToken(id: Identifier.make(), name: name, expiresAt: Timestamp.date(expires), maxUses: maxUses, uses: 0, revokedAt: nil, createdAt: Timestamp.date(now), allowReenrollment: allowReenrollment)
        try await write(tenant: tenant) { sql in
            try await sql.raw("""
                INSERT INTO enrollment_tokens (id, tenant_id, name, token_hash, expires_at, max_uses, uses, revoked_at, created_at, allow_reenrollment)
                VALUES (\(bind: record.id), \(bind: tenant), \(bind: name), \(bind: Digest.sha256Hex(Data(token.utf8))), \(bind: expires), \(bind: maxUses), 0, NULL, \(bind: now), \(bind: allowReenrollment ? 1 : 0))
                """).run()
            try await Self.audit(.enrollmentTokenCreate, by: actor, tenant: tenant, target: ("enrollmentToken", record.id, name), new: record, at: now, on: sql)
        }
        return CreatedEnrollmentToken(record: record, token: token)
    }

    public func enrollmentTokens(tenant: String, limit: Int, after cursor: String?) async throws -> Page<EnrollmentToken> {
        try await read { sql in
            let rows = try await sql.raw("""
                SELECT \(unsafeRaw: Self.enrollmentTokenColumns) FROM enrollment_tokens
                WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
                """).all()
            return Page(fetched: try rows.map(Self.enrollmentToken), limit: limit, id: \.id)
        }
    }

    static let enrollmentTokenColumns = "id, name, expires_at, max_uses, uses, revoked_at, created_at, allow_reenrollment"

    static func enrollmentToken(_ row: any SQLRow) throws -> EnrollmentToken {
        EnrollmentToken(
            id: try row.string("id"), name: try row.string("name"),
            expiresAt: Timestamp.date(try row.millis("expires_at")), maxUses: try row.optionalInt("max_uses"),
            uses: try row.int("uses"), revokedAt: Timestamp.optionalDate(try row.optionalMillis("revoked_at")),
            createdAt: Timestamp.date(try row.millis("created_at")), allowReenrollment: try row.int("allow_reenrollment") != 0)
    }

    public func revokeEnrollmentToken(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = clock.nowMillis
        try await write(tenant: tenant) { sql in
            guard let old = try await sql.raw("""
                SELECT \(unsafeRaw: Self.enrollmentTokenColumns) FROM enrollment_tokens WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)
                """).first().map(Self.enrollmentToken) else {
                throw DomainError.notFound("enrollment token", id: id)
            }
            guard old.revokedAt == nil else { return }
            try await sql.raw("UPDATE enrollment_tokens SET revoked_at = \(bind: now) WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
            var new = old
            new.revokedAt = Timestamp.date(now)
            try await Self.audit(.enrollmentTokenRevoke, by: actor, tenant: tenant, target: ("enrollmentToken", id, old.name), old: old, new: new, at: now, on: sql)
        }
    }
}

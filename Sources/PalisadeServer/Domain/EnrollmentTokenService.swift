import Foundation
import PalisadeCore

public struct CreatedEnrollmentToken: Sendable {
    public var record: EnrollmentToken
    public var token: String
}

/// Enrollment tokens: the secrets devices enroll with. Their limits are checked here, for the
/// API, the onboarding page and apply; creating and revoking one is audited.
public struct EnrollmentTokenService: Sendable {
    static let maximumHours = 24 * 365
    static let maximumUses = 1_000_000
    let store: PalisadeStore

    public init(store: PalisadeStore) {
        self.store = store
    }

    public func tokens(tenant: String, limit: Int, after cursor: String?) async throws -> Page<EnrollmentToken> {
        try await store.read { sql in try await EnrollmentTokenRepository.page(tenant: tenant, limit: limit, after: cursor, on: sql) }
    }

    /// The token `id` if `secret` is its secret and it can still enroll a device (onboarding
    /// packages carry an existing token).
    public func usableToken(tenant: String, id: String, secret: String) async throws -> EnrollmentToken {
        try await store.usableEnrollmentToken(tenant: tenant, id: id, secret: secret)
    }

    /// A new token; its secret is answered once and only a hash of it is kept.
    public func create(tenant: String, by actor: AuditActor, name: String, expiresInHours: Int, maxUses: Int?, allowReenrollment: Bool = false) async throws -> CreatedEnrollmentToken {
        let name = try InputRules.name(name)
        guard (1...Self.maximumHours).contains(expiresInHours) else {
            throw DomainError.invalid("expiresInHours must be from 1 to \(Self.maximumHours), got \(expiresInHours)", field: "expiresInHours")
        }
        if let maxUses, !(1...Self.maximumUses).contains(maxUses) {
            throw DomainError.invalid("maxUses must be from 1 to \(Self.maximumUses), got \(maxUses)", field: "maxUses")
        }
        let now = store.clock.nowMillis
        let expires = now + Int64(expiresInHours) * 3_600_000
        let token = Identifier.secret(prefix: "pet_")
        let record = EnrollmentToken(id: Identifier.make(), name: name, expiresAt: Timestamp.date(expires), maxUses: maxUses, uses: 0, revokedAt: nil,
                                     createdAt: Timestamp.date(now), allowReenrollment: allowReenrollment)
        try await store.write(tenant: tenant) { sql in
            try await EnrollmentTokenRepository.insert(record, secretHash: Digest.sha256Hex(Data(token.utf8)), expiresAt: expires, createdAt: now, tenant: tenant, on: sql)
            try await PalisadeStore.audit(.enrollmentTokenCreate, by: actor, tenant: tenant, target: ("enrollmentToken", record.id, name), new: record, at: now, on: sql)
        }
        return CreatedEnrollmentToken(record: record, token: token)
    }

    /// Revokes a token (devices it enrolled keep working); revoking it again changes nothing.
    public func revoke(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = store.clock.nowMillis
        try await store.write(tenant: tenant) { sql in
            let old = try await EnrollmentTokenRepository.token(tenant: tenant, id: id, on: sql)
            guard old.revokedAt == nil else { return }
            try await EnrollmentTokenRepository.revoke(tenant: tenant, id: id, at: now, on: sql)
            var new = old
            new.revokedAt = Timestamp.date(now)
            try await PalisadeStore.audit(.enrollmentTokenRevoke, by: actor, tenant: tenant, target: ("enrollmentToken", id, old.name), old: old, new: new, at: now, on: sql)
        }
    }
}

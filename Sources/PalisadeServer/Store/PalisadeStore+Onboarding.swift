import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    /// An existing enrollment token for an onboarding package. The server keeps only the
    /// token's hash, so the caller gives the secret too; it must belong to `id` in this tenant
    /// and the token must still enroll (not revoked, expired or used up). Refusals are 400s
    /// that name the field at fault.
    public func usableEnrollmentToken(tenant: String, id: String, secret: String) async throws -> EnrollmentToken {
        let row = try await read { sql in
            try await sql.raw("""
                SELECT \(unsafeRaw: EnrollmentTokenRepository.columns), token_hash FROM enrollment_tokens
                WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)
                """).first()
        }
        guard let row else {
            throw DomainError.invalid("enrollment token \(id) does not exist in this tenant", field: "enrollmentTokenId")
        }
        let token = try EnrollmentTokenRepository.token(row)
        let storedHash = try row.string("token_hash")
        guard Digest.constantTimeEqual(storedHash, Digest.sha256Hex(Data(secret.utf8))) else {
            throw DomainError.invalid("enrollmentToken is not the secret of enrollment token \(id) (\"\(token.name)\"); the server keeps only a hash of each secret, so give the one shown when the token was created, or create a new token", field: "enrollmentToken")
        }
        if token.revokedAt != nil {
            throw DomainError.invalid("enrollment token \(id) (\"\(token.name)\") was revoked", field: "enrollmentTokenId")
        }
        if token.expiresAt <= clock.now {
            throw DomainError.invalid("enrollment token \(id) (\"\(token.name)\") expired at \(token.expiresAt.ISO8601Format())", field: "enrollmentTokenId")
        }
        if let maxUses = token.maxUses, token.uses >= maxUses {
            throw DomainError.invalid("enrollment token \(id) (\"\(token.name)\") has been used \(token.uses) of \(maxUses) times", field: "enrollmentTokenId")
        }
        return token
    }
}

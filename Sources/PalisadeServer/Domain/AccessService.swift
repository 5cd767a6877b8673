import Foundation
import PalisadeCore

/// People and API tokens: who may reach a tenant, and with which role. The one place their
/// rules live (email and password rules, token lifetimes, ending sessions when a role or
/// password changes), for the API, the pages and the CLI; every change is audited.
public struct AccessService: Sendable {
    static let maximumTokenDays = 3650
    let store: PalisadeStore

    public init(store: PalisadeStore) {
        self.store = store
    }

    // MARK: Rules

    static func validatedEmail(_ raw: String) throws -> String {
        let email = InputRules.trimmed(raw, newlines: true).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !email.contains(where: { $0.isWhitespace }) else {
            throw DomainError.invalid("email must be an address such as admin@example.com", field: "email")
        }
        return email
    }

    /// Passwords of 12 to 72 bytes (bcrypt reads no further than 72).
    static func validatedPassword(_ password: String) throws -> String {
        guard password.count >= 12 else { throw DomainError.invalid("password must be at least 12 characters", field: "password") }
        guard password.utf8.count <= 72 else { throw DomainError.invalid("password must be at most 72 bytes", field: "password") }
        return password
    }

    // MARK: API tokens

    public func apiTokens(tenant: String, limit: Int, after cursor: String?) async throws -> Page<APIToken> {
        try await store.read { sql in try await AccessRepository.apiTokens(tenant: tenant, limit: limit, after: cursor, on: sql) }
    }

    /// A new token; its secret is answered once and only a hash of it is kept.
    public func createAPIToken(tenant: String, by actor: AuditActor, name: String, role: Role, expiresInDays: Int?) async throws -> CreatedAPIToken {
        let name = try InputRules.name(name)
        if let expiresInDays, !(1...Self.maximumTokenDays).contains(expiresInDays) {
            throw DomainError.invalid("expiresInDays must be from 1 to \(Self.maximumTokenDays), got \(expiresInDays)", field: "expiresInDays")
        }
        let now = store.clock.nowMillis
        let expires = expiresInDays.map { now + Int64($0) * 86_400_000 }
        let secret = Identifier.secret(prefix: "pat_")
        let record = APIToken(id: Identifier.make(), name: name, role: role, createdAt: Timestamp.date(now), createdBy: actor.name,
                              expiresAt: Timestamp.optionalDate(expires), lastUsedAt: nil, revokedAt: nil)
        try await store.write(tenant: tenant) { sql in
            try await AccessRepository.insertAPIToken(record, secretHash: Digest.sha256Hex(Data(secret.utf8)), createdAt: now, expiresAt: expires, tenant: tenant, on: sql)
            try await PalisadeStore.audit(.apiTokenCreate, by: actor, tenant: tenant, target: ("apiToken", record.id, name), new: record, at: now, on: sql)
        }
        return CreatedAPIToken(record: record, token: secret)
    }

    /// Revokes a token at once: its next request is refused with 401.
    public func revokeAPIToken(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = store.clock.nowMillis
        try await store.write(tenant: tenant) { sql in
            let old = try await AccessRepository.apiToken(tenant: tenant, id: id, on: sql)
            guard old.revokedAt == nil else { return }
            try await AccessRepository.revokeAPIToken(tenant: tenant, id: id, at: now, on: sql)
            var new = old
            new.revokedAt = Timestamp.date(now)
            try await PalisadeStore.audit(.apiTokenRevoke, by: actor, tenant: tenant, target: ("apiToken", id, old.name), old: old, new: new, at: now, on: sql)
        }
    }

    // MARK: Sessions

    /// Checks an email and password and opens a session; failures count towards a lockout
    /// (`PalisadeStore.signIn`, which the session middleware's checks live beside).
    public func signIn(email: String, password: String, sourceAddress: String?) async throws -> SignedIn {
        try await store.signIn(email: email, password: password, sourceAddress: sourceAddress)
    }

    public func signOut(_ principal: Principal, sourceAddress: String?) async throws {
        try await store.signOut(principal, sourceAddress: sourceAddress)
    }

    // MARK: People

    public func users(tenant: String, limit: Int, after cursor: String?) async throws -> Page<User> {
        try await store.read { sql in try await AccessRepository.users(tenant: tenant, limit: limit, after: cursor, on: sql) }
    }

    public func user(tenant: String, id: String) async throws -> User {
        try await store.read { sql in try await AccessRepository.user(tenant: tenant, id: id, on: sql) }
    }

    public func createUser(tenant: String, by actor: AuditActor, email: String, displayName: String, role: Role, password: String) async throws -> User {
        let email = try Self.validatedEmail(email)
        let displayName = try InputRules.name(displayName, field: "displayName")
        let hash = try await store.hashPassword(try Self.validatedPassword(password))
        let now = store.clock.nowMillis
        let user = User(id: Identifier.make(), email: email, displayName: displayName, role: role, createdAt: Timestamp.date(now), updatedAt: Timestamp.date(now), lockedUntil: nil)
        try await store.write(tenant: tenant) { sql in
            if try await AccessRepository.emailIsTaken(email, on: sql) {
                throw DomainError(.conflict, code: .userExists, message: "a user with the email \(email) already exists", details: ["field": "email"])
            }
            try await AccessRepository.insertUser(user, passwordHash: hash, at: now, tenant: tenant, on: sql)
            try await PalisadeStore.audit(.userCreate, by: actor, tenant: tenant, target: ("user", user.id, email), new: user, at: now, on: sql)
        }
        return user
    }

    /// Changes a user's name, role or password. A new role or password ends the user's
    /// sessions, so that a demotion takes effect at once.
    public func updateUser(tenant: String, by actor: AuditActor, id: String, displayName: String?, role: Role?, password: String?) async throws -> User {
        let displayName = try displayName.map { try InputRules.name($0, field: "displayName") }
        var newHash: String?
        if let password { newHash = try await store.hashPassword(try Self.validatedPassword(password)) }
        let hash = newHash
        let now = store.clock.nowMillis
        return try await store.write(tenant: tenant) { sql in
            let old = try await AccessRepository.user(tenant: tenant, id: id, on: sql)
            var new = old
            if let displayName { new.displayName = displayName }
            if let role { new.role = role }
            new.updatedAt = Timestamp.date(now)
            try await AccessRepository.updateUser(new, at: now, tenant: tenant, on: sql)
            if let hash {
                try await AccessRepository.setPasswordHash(hash, user: id, tenant: tenant, on: sql)
                new.lockedUntil = nil
            }
            if hash != nil || new.role != old.role {
                try await AccessRepository.endSessions(of: id, tenant: tenant, on: sql)
            }
            // The audit entry says a password changed, never what it is.
            struct Change: Encodable, Sendable { var user: User; var passwordChanged: Bool }
            try await PalisadeStore.audit(.userUpdate, by: actor, tenant: tenant, target: ("user", id, new.email), old: old,
                                          new: Change(user: new, passwordChanged: hash != nil), at: now, on: sql)
            return new
        }
    }

    /// Deletes a user and ends their sessions.
    public func deleteUser(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = store.clock.nowMillis
        try await store.write(tenant: tenant) { sql in
            let old = try await AccessRepository.user(tenant: tenant, id: id, on: sql)
            try await AccessRepository.deleteUser(id, tenant: tenant, on: sql)
            try await PalisadeStore.audit(.userDelete, by: actor, tenant: tenant, target: ("user", id, old.email), old: old, at: now, on: sql)
        }
    }
}

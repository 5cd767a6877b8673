import Foundation
import HummingbirdBcrypt
import NIOPosix
import PalisadeCore
import SQLKit

/// Who is calling the admin API: an API token or a person signed in with a session.
public struct Principal: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case apiToken
        case user
    }

    public var tenantId: String
    public var kind: Kind
    /// The token's or the user's id.
    public var id: String
    /// The token's name or the user's email.
    public var name: String
    public var role: Role
    /// Sessions only: the CSRF token every state-changing request must carry.
    public var csrfToken: String?
    /// Sessions only: SHA-256 of the session cookie.
    public var sessionHash: String?

    func actor(from sourceAddress: String?) -> AuditActor {
        AuditActor(type: kind == .apiToken ? .apiToken : .user, id: id, name: name, sourceAddress: sourceAddress)
    }
}

public struct APIToken: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var role: Role
    public var createdAt: Date
    /// Who created it (user or token name); empty for the bootstrap token.
    public var createdBy: String
    public var expiresAt: Date?
    public var lastUsedAt: Date?
    public var revokedAt: Date?
}

public struct CreatedAPIToken: Sendable {
    public var record: APIToken
    /// Shown once; only its hash is stored.
    public var token: String
}

public struct User: Codable, Sendable, Hashable {
    public var id: String
    public var email: String
    public var displayName: String
    public var role: Role
    public var createdAt: Date
    public var updatedAt: Date
    /// Set while sign-ins are refused after repeated failures.
    public var lockedUntil: Date?
}

/// A signed-in session: the cookie secret (shown to the browser only) and the CSRF token.
public struct SignedIn: Sendable {
    public var user: User
    public var cookieValue: String
    public var csrfToken: String
    public var expiresAt: Date
}

/// Why a bearer token or session cookie was refused.
enum CredentialProblem: Error, Sendable {
    case unknown
    case expired
    case revoked
}

extension PalisadeStore {
    static let maximumTokenDays = 3650
    static let sessionIdleTimeout: Int64 = 30 * 60_000
    static let sessionLifetime: Int64 = 12 * 3_600_000
    /// Consecutive failed sign-ins that lock an account, and for how long.
    static let lockoutThreshold = 5
    static let lockoutDuration: Int64 = 15 * 60_000
    /// Uses of a token or session are recorded at most this often (a write per request is not
    /// worth it).
    static let lastUseGranularity: Int64 = 60_000

    // MARK: API tokens

    /// The caller an admin API token stands for, or why it is refused.
    func authenticate(apiToken: String) async throws -> Result<Principal, CredentialProblem> {
        let hash = Digest.sha256Hex(Data(apiToken.utf8))
        let now = clock.nowMillis
        guard let row = try await read({ sql in
            try await sql.raw("SELECT id, tenant_id, name, role, expires_at, revoked_at, last_used_at FROM api_tokens WHERE token_hash = \(bind: hash)").first()
        }) else { return .failure(.unknown) }
        if try row.optionalMillis("revoked_at") != nil { return .failure(.revoked) }
        if let expires = try row.optionalMillis("expires_at"), expires <= now { return .failure(.expired) }
        guard let role = Role(stored: try row.string("role")) else { throw StoreError.corrupt("api token role \(try row.string("role"))") }
        let id = try row.string("id")
        if (try row.optionalMillis("last_used_at") ?? 0) < now - Self.lastUseGranularity {
            try await backend.write(lockKey: "token:\(id)") { sql in
                try await sql.raw("UPDATE api_tokens SET last_used_at = \(bind: now) WHERE id = \(bind: id)").run()
            }
        }
        return .success(Principal(tenantId: try row.string("tenant_id"), kind: .apiToken, id: id, name: try row.string("name"), role: role))
    }

    public func createAPIToken(tenant: String, by actor: AuditActor, name: String, role: Role, expiresInDays: Int?) async throws -> CreatedAPIToken {
        let name = try InputRules.name(name)
        if let expiresInDays, !(1...Self.maximumTokenDays).contains(expiresInDays) {
            throw DomainError.invalid("expiresInDays must be from 1 to \(Self.maximumTokenDays), got \(expiresInDays)", field: "expiresInDays")
        }
        let now = clock.nowMillis
        let expires = expiresInDays.map { now + Int64($0) * 86_400_000 }
        let secret = Identifier.secret(prefix: "pat_")
        let record = APIToken(id: Identifier.make(), name: name, role: role, createdAt: Timestamp.date(now), createdBy: actor.name,
                              expiresAt: Timestamp.optionalDate(expires), lastUsedAt: nil, revokedAt: nil)
        try await write(tenant: tenant) { sql in
            try await sql.raw("""
                INSERT INTO api_tokens (id, tenant_id, name, role, token_hash, created_at, expires_at, created_by)
                VALUES (\(bind: record.id), \(bind: tenant), \(bind: name), \(bind: role.rawValue), \(bind: Digest.sha256Hex(Data(secret.utf8))),
                    \(bind: now), \(bind: expires), \(bind: actor.name))
                """).run()
            try await Self.audit(.apiTokenCreate, by: actor, tenant: tenant, target: ("apiToken", record.id, name), new: record, at: now, on: sql)
        }
        return CreatedAPIToken(record: record, token: secret)
    }

    static let apiTokenColumns = "id, name, role, created_at, created_by, expires_at, last_used_at, revoked_at"

    static func apiToken(_ row: any SQLRow) throws -> APIToken {
        guard let role = Role(stored: try row.string("role")) else { throw StoreError.corrupt("api token role \(try row.string("role"))") }
        return APIToken(id: try row.string("id"), name: try row.string("name"), role: role, createdAt: Timestamp.date(try row.millis("created_at")),
                        createdBy: try row.string("created_by"), expiresAt: Timestamp.optionalDate(try row.optionalMillis("expires_at")),
                        lastUsedAt: Timestamp.optionalDate(try row.optionalMillis("last_used_at")),
                        revokedAt: Timestamp.optionalDate(try row.optionalMillis("revoked_at")))
    }

    public func apiTokens(tenant: String, limit: Int, after cursor: String?) async throws -> Page<APIToken> {
        try await read { sql in
            let rows = try await sql.raw("""
                SELECT \(unsafeRaw: Self.apiTokenColumns) FROM api_tokens
                WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
                """).all()
            return Page(fetched: try rows.map(Self.apiToken), limit: limit, id: \.id)
        }
    }

    /// Revokes a token at once: its next request is refused with 401.
    public func revokeAPIToken(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = clock.nowMillis
        try await write(tenant: tenant) { sql in
            guard let row = try await sql.raw("SELECT \(unsafeRaw: Self.apiTokenColumns) FROM api_tokens WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first() else {
                throw DomainError.notFound("API token", id: id)
            }
            let old = try Self.apiToken(row)
            guard old.revokedAt == nil else { return }
            try await sql.raw("UPDATE api_tokens SET revoked_at = \(bind: now) WHERE id = \(bind: id)").run()
            var new = old
            new.revokedAt = Timestamp.date(now)
            try await Self.audit(.apiTokenRevoke, by: actor, tenant: tenant, target: ("apiToken", id, old.name), old: old, new: new, at: now, on: sql)
        }
    }

    // MARK: Users

    static let userColumns = "id, email, display_name, role, created_at, updated_at, locked_until"

    static func user(_ row: any SQLRow) throws -> User {
        guard let role = Role(rawValue: try row.string("role")) else { throw StoreError.corrupt("user role \(try row.string("role"))") }
        return User(id: try row.string("id"), email: try row.string("email"), displayName: try row.string("display_name"), role: role,
                    createdAt: Timestamp.date(try row.millis("created_at")), updatedAt: Timestamp.date(try row.millis("updated_at")),
                    lockedUntil: Timestamp.optionalDate(try row.optionalMillis("locked_until")))
    }

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

    /// bcrypt off the cooperative pool: a hash takes a quarter of a second by design.
    func hashPassword(_ password: String) async throws -> String {
        let cost = passwordHashCost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    static func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    public func createUser(tenant: String, by actor: AuditActor, email: String, displayName: String, role: Role, password: String) async throws -> User {
        let email = try Self.validatedEmail(email)
        let displayName = try InputRules.name(displayName, field: "displayName")
        let hash = try await hashPassword(try Self.validatedPassword(password))
        let now = clock.nowMillis
        let user = User(id: Identifier.make(), email: email, displayName: displayName, role: role, createdAt: Timestamp.date(now), updatedAt: Timestamp.date(now), lockedUntil: nil)
        try await write(tenant: tenant) { sql in
            if try await sql.raw("SELECT id FROM users WHERE email = \(bind: email)").first() != nil {
                throw DomainError(.conflict, code: .userExists, message: "a user with the email \(email) already exists", details: ["field": "email"])
            }
            try await sql.raw("""
                INSERT INTO users (id, tenant_id, email, display_name, role, password_hash, failed_sign_ins, locked_until, created_at, updated_at)
                VALUES (\(bind: user.id), \(bind: tenant), \(bind: email), \(bind: displayName), \(bind: role.rawValue), \(bind: hash), 0, NULL, \(bind: now), \(bind: now))
                """).run()
            try await Self.audit(.userCreate, by: actor, tenant: tenant, target: ("user", user.id, email), new: user, at: now, on: sql)
        }
        return user
    }

    public func users(tenant: String, limit: Int, after cursor: String?) async throws -> Page<User> {
        try await read { sql in
            let rows = try await sql.raw("""
                SELECT \(unsafeRaw: Self.userColumns) FROM users WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
                """).all()
            return Page(fetched: try rows.map(Self.user), limit: limit, id: \.id)
        }
    }

    public func user(tenant: String, id: String) async throws -> User {
        try await read { sql in try await Self.user(tenant: tenant, id: id, on: sql) }
    }

    static func user(tenant: String, id: String, on sql: any SQLDatabase) async throws -> User {
        guard let row = try await sql.raw("SELECT \(unsafeRaw: userColumns) FROM users WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first() else {
            throw DomainError.notFound("user", id: id)
        }
        return try user(row)
    }

    /// Changes a user's name, role or password. A new role or password ends the user's
    /// sessions, so that a demotion takes effect at once.
    public func updateUser(tenant: String, by actor: AuditActor, id: String, displayName: String?, role: Role?, password: String?) async throws -> User {
        let displayName = try displayName.map { try InputRules.name($0, field: "displayName") }
        var newHash: String?
        if let password { newHash = try await hashPassword(try Self.validatedPassword(password)) }
        let hash = newHash
        let now = clock.nowMillis
        return try await write(tenant: tenant) { sql in
            let old = try await Self.user(tenant: tenant, id: id, on: sql)
            var new = old
            if let displayName { new.displayName = displayName }
            if let role { new.role = role }
            new.updatedAt = Timestamp.date(now)
            try await sql.raw("""
                UPDATE users SET display_name = \(bind: new.displayName), role = \(bind: new.role.rawValue), updated_at = \(bind: now)
                WHERE id = \(bind: id)
                """).run()
            if let hash {
                try await sql.raw("UPDATE users SET password_hash = \(bind: hash), failed_sign_ins = 0, locked_until = NULL WHERE id = \(bind: id)").run()
                new.lockedUntil = nil
            }
            if hash != nil || new.role != old.role {
                try await sql.raw("DELETE FROM sessions WHERE user_id = \(bind: id)").run()
            }
            // The audit entry says a password changed, never what it is.
            struct Change: Encodable, Sendable { var user: User; var passwordChanged: Bool }
            try await Self.audit(.userUpdate, by: actor, tenant: tenant, target: ("user", id, new.email), old: old,
                                 new: Change(user: new, passwordChanged: hash != nil), at: now, on: sql)
            return new
        }
    }

    public func deleteUser(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = clock.nowMillis
        try await write(tenant: tenant) { sql in
            let old = try await Self.user(tenant: tenant, id: id, on: sql)
            try await sql.raw("DELETE FROM sessions WHERE user_id = \(bind: id)").run()
            try await sql.raw("DELETE FROM users WHERE id = \(bind: id)").run()
            try await Self.audit(.userDelete, by: actor, tenant: tenant, target: ("user", id, old.email), old: old, at: now, on: sql)
        }
    }

    // MARK: Sessions

    /// Checks an email and password. A wrong password counts against the account: after five
    /// in a row it is locked for 15 minutes (refused even with the right password), and every
    /// attempt on a known account, good or bad, is audited. An unknown email costs the same
    /// bcrypt time as a known one, so timing does not tell which addresses exist.
    public func signIn(email: String, password: String, sourceAddress: String?) async throws -> SignedIn {
        let email = InputRules.trimmed(email, newlines: true).lowercased()
        let now = clock.nowMillis
        let row = try await read { sql in
            try await sql.raw("SELECT \(unsafeRaw: Self.userColumns), tenant_id, password_hash, failed_sign_ins FROM users WHERE email = \(bind: email)").first()
        }
        let refusal = DomainError(.unauthenticated, code: .invalidCredentials, message: "the email or the password is not right")
        guard let row else {
            // The dummy hash is made (once) and checked on the thread pool, like a real one.
            _ = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: Self.timingDummyHash) }
            throw refusal
        }
        let user = try Self.user(row)
        let tenant = try row.string("tenant_id")
        let actor = AuditActor(type: .user, id: user.id, name: user.email, sourceAddress: sourceAddress)
        if let locked = try row.optionalMillis("locked_until"), locked > now {
            try await write(tenant: tenant) { sql in
                try await Self.audit(.signInFailed, by: actor, tenant: tenant, target: ("user", user.id, user.email),
                                     new: ["reason": "account locked"], at: now, on: sql)
            }
            throw DomainError(.rateLimited, code: .accountLocked,
                              message: "too many failed sign-ins: the account is locked until \(Timestamp.date(locked).ISO8601Format())",
                              details: ["lockedUntil": .string(Timestamp.date(locked).ISO8601Format())],
                              retryAfterSeconds: Int((locked - now + 999) / 1000))
        }
        guard try await Self.verifyPassword(password, hash: try row.string("password_hash")) else {
            let failures = try row.int("failed_sign_ins") + 1
            let lockedUntil: Int64? = failures >= Self.lockoutThreshold ? now + Self.lockoutDuration : nil
            try await write(tenant: tenant) { sql in
                try await sql.raw("""
                    UPDATE users SET failed_sign_ins = \(bind: lockedUntil == nil ? failures : 0), locked_until = \(bind: lockedUntil) WHERE id = \(bind: user.id)
                    """).run()
                let reason: [String: JSONValue] = ["reason": "wrong password", "consecutiveFailures": .integer(Int64(failures)), "locked": .bool(lockedUntil != nil)]
                try await Self.audit(.signInFailed, by: actor, tenant: tenant, target: ("user", user.id, user.email), new: reason, at: now, on: sql)
            }
            throw refusal
        }
        let cookie = Identifier.secret(prefix: "ps_")
        let csrf = Identifier.secret(prefix: "")
        let expires = now + Self.sessionLifetime
        try await write(tenant: tenant) { sql in
            try await sql.raw("UPDATE users SET failed_sign_ins = 0, locked_until = NULL WHERE id = \(bind: user.id)").run()
            try await sql.raw("DELETE FROM sessions WHERE user_id = \(bind: user.id) AND expires_at <= \(bind: now)").run()
            try await sql.raw("""
                INSERT INTO sessions (id_hash, user_id, tenant_id, csrf_token, created_at, last_seen_at, expires_at)
                VALUES (\(bind: Digest.sha256Hex(Data(cookie.utf8))), \(bind: user.id), \(bind: tenant), \(bind: csrf), \(bind: now), \(bind: now), \(bind: expires))
                """).run()
            try await Self.audit(.signIn, by: actor, tenant: tenant, target: ("user", user.id, user.email), at: now, on: sql)
        }
        return SignedIn(user: user, cookieValue: cookie, csrfToken: csrf, expiresAt: Timestamp.date(expires))
    }

    /// A bcrypt hash of a random password: what an unknown email is checked against.
    static let timingDummyHash = Bcrypt.hash(Identifier.secret(prefix: ""), cost: 12)

    /// The person a session cookie stands for, or why it is refused (idle for 30 minutes, or
    /// older than 12 hours).
    func authenticate(sessionCookie: String) async throws -> Result<Principal, CredentialProblem> {
        let hash = Digest.sha256Hex(Data(sessionCookie.utf8))
        let now = clock.nowMillis
        guard let row = try await read({ sql in
            try await sql.raw("""
                SELECT s.user_id, s.tenant_id, s.csrf_token, s.last_seen_at, s.expires_at, u.email, u.role
                FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = \(bind: hash)
                """).first()
        }) else { return .failure(.unknown) }
        let lastSeen = try row.millis("last_seen_at")
        if try row.millis("expires_at") <= now || lastSeen + Self.sessionIdleTimeout <= now { return .failure(.expired) }
        guard let role = Role(rawValue: try row.string("role")) else { throw StoreError.corrupt("user role") }
        let tenant = try row.string("tenant_id")
        if lastSeen < now - Self.lastUseGranularity {
            try await backend.write(lockKey: "session:\(hash)") { sql in
                try await sql.raw("UPDATE sessions SET last_seen_at = \(bind: now) WHERE id_hash = \(bind: hash)").run()
            }
        }
        return .success(Principal(tenantId: tenant, kind: .user, id: try row.string("user_id"), name: try row.string("email"), role: role,
                                  csrfToken: try row.string("csrf_token"), sessionHash: hash))
    }

    public func signOut(_ principal: Principal, sourceAddress: String?) async throws {
        guard let sessionHash = principal.sessionHash else { return }
        let now = clock.nowMillis
        try await write(tenant: principal.tenantId) { sql in
            try await sql.raw("DELETE FROM sessions WHERE id_hash = \(bind: sessionHash)").run()
            try await Self.audit(.signOut, by: principal.actor(from: sourceAddress), tenant: principal.tenantId,
                                 target: ("user", principal.id, principal.name), at: now, on: sql)
        }
    }
}

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

    // MARK: Users

    static let userColumns = "id, email, display_name, role, created_at, updated_at, locked_until"

    static func user(_ row: any SQLRow) throws -> User {
        guard let role = Role(rawValue: try row.string("role")) else { throw StoreError.corrupt("user role \(try row.string("role"))") }
        return User(id: try row.string("id"), email: try row.string("email"), displayName: try row.string("display_name"), role: role,
                    createdAt: Timestamp.date(try row.millis("created_at")), updatedAt: Timestamp.date(try row.millis("updated_at")),
                    lockedUntil: Timestamp.optionalDate(try row.optionalMillis("locked_until")))
    }

    /// bcrypt's threads: off the cooperative pool (a hash takes a quarter of a second by design)
    /// and off NIO's shared pool, on which SQLite runs: two sign-ins at once would otherwise
    /// hold every database statement of a two-core server for that quarter second.
    static let passwordHashing: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// bcrypt on its own threads (`passwordHashing`).
    func hashPassword(_ password: String) async throws -> String {
        let cost = passwordHashCost
        return try await Self.passwordHashing.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    static func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await Self.passwordHashing.runIfActive { Bcrypt.verify(password, hash: hash) }
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
            _ = try await Self.passwordHashing.runIfActive { Bcrypt.verify(password, hash: Self.timingDummyHash) }
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
                    UPDATE users SET failed_sign_ins = \(bind: lockedUntil == nil ? failures : 0), locked_until = \(bind: lockedUntil)
                    WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: user.id)
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
            try await sql.raw("""
                UPDATE users SET failed_sign_ins = 0, locked_until = NULL WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id = \(bind: user.id)
                """).run()
            try await sql.raw("""
                DELETE FROM sessions WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND user_id = \(bind: user.id) AND expires_at <= \(bind: now)
                """).run()
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

import Foundation
import PalisadeCore
import SQLKit

/// Who did something: a person, an API token, a device (enrollment) or the system (CLI).
public struct AuditActor: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable {
        case user
        case apiToken
        case device
        case system
    }

    public var type: Kind
    public var id: String
    public var name: String
    public var sourceAddress: String?

    public init(type: Kind, id: String, name: String, sourceAddress: String? = nil) {
        self.type = type
        self.id = id
        self.name = name
        self.sourceAddress = sourceAddress
    }

    /// A command run on the server itself (`palisade user create`, `palisade tenant create`).
    public static func system(_ name: String) -> AuditActor { AuditActor(type: .system, id: "", name: name) }
}

/// What happened, named `<target>.<verb>`: the values the audit filter takes.
public struct AuditAction: RawRepresentable, Codable, Sendable, Hashable {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let tenantCreate = AuditAction(rawValue: "tenant.create")
    public static let enrollmentTokenCreate = AuditAction(rawValue: "enrollmentToken.create")
    public static let enrollmentTokenRevoke = AuditAction(rawValue: "enrollmentToken.revoke")
    public static let deviceEnroll = AuditAction(rawValue: "device.enroll")
    public static let deviceReenroll = AuditAction(rawValue: "device.reenroll")
    public static let deviceReenrollmentPending = AuditAction(rawValue: "device.reenrollmentPending")
    public static let deviceReenrollmentApproved = AuditAction(rawValue: "device.reenrollmentApproved")
    public static let deviceTags = AuditAction(rawValue: "device.tags")
    public static let deviceRetire = AuditAction(rawValue: "device.retire")
    public static let groupCreate = AuditAction(rawValue: "group.create")
    public static let groupUpdate = AuditAction(rawValue: "group.update")
    public static let groupDelete = AuditAction(rawValue: "group.delete")
    public static let groupAddMembers = AuditAction(rawValue: "group.addMembers")
    public static let groupRemoveMember = AuditAction(rawValue: "group.removeMember")
    public static let policyCreate = AuditAction(rawValue: "policy.create")
    public static let policyUpdate = AuditAction(rawValue: "policy.update")
    public static let policyDelete = AuditAction(rawValue: "policy.delete")
    public static let policyAssign = AuditAction(rawValue: "policy.assign")
    /// A new revision equal to an earlier one: `newValue` is `{"restoredRevision", "policy"}`.
    public static let policyRollback = AuditAction(rawValue: "policy.rollback")
    public static let deviceSync = AuditAction(rawValue: "device.sync")
    public static let groupSync = AuditAction(rawValue: "group.sync")
    public static let settingsEnforcement = AuditAction(rawValue: "settings.enforcement")
    public static let settingsDevices = AuditAction(rawValue: "settings.devices")
    public static let apiTokenCreate = AuditAction(rawValue: "apiToken.create")
    public static let apiTokenRevoke = AuditAction(rawValue: "apiToken.revoke")
    public static let userCreate = AuditAction(rawValue: "user.create")
    public static let userUpdate = AuditAction(rawValue: "user.update")
    public static let userDelete = AuditAction(rawValue: "user.delete")
    public static let signIn = AuditAction(rawValue: "session.signIn")
    public static let signInFailed = AuditAction(rawValue: "session.signInFailed")
    public static let signOut = AuditAction(rawValue: "session.signOut")
}

/// One entry of the append-only audit log.
public struct AuditEvent: Codable, Sendable, Hashable {
    public struct Target: Codable, Sendable, Hashable {
        public var type: String
        public var id: String
        public var name: String
    }

    public var id: String
    public var at: Date
    public var actor: AuditActor
    public var action: AuditAction
    public var target: Target
    /// The object before and after the change, as JSON (secrets never appear).
    public var oldValue: JSONValue?
    public var newValue: JSONValue?
}

/// Filters of `GET /api/v1/audit`.
public struct AuditQuery: Sendable {
    public var actor: String?
    public var action: String?
    public var targetId: String?
    public var since: Date?
    public var until: Date?

    public init(actor: String? = nil, action: String? = nil, targetId: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.actor = actor
        self.action = action
        self.targetId = targetId
        self.since = since
        self.until = until
    }
}

extension PalisadeStore {
    /// Appends an entry inside the caller's transaction: the entry commits with the change it
    /// describes, or neither does. Nothing updates or deletes entries.
    static func audit(_ action: AuditAction, by actor: AuditActor, tenant: String, target: (type: String, id: String, name: String),
                      old: (any Encodable & Sendable)? = nil, new: (any Encodable & Sendable)? = nil, at now: Int64, on sql: any SQLDatabase) async throws {
        func json(_ value: (any Encodable & Sendable)?) throws -> String? {
            guard let value else { return nil }
            // The API's encoding (ISO 8601 dates): entries read as the objects did in responses.
            return String(decoding: try JSONBody.encoder.encode(AnyEncodable(value)), as: UTF8.self)
        }
        try await sql.raw("""
            INSERT INTO audit_events (id, tenant_id, at, actor_type, actor_id, actor_name, source_address, action, target_type, target_id, target_name, old_value, new_value)
            VALUES (\(bind: Identifier.make()), \(bind: tenant), \(bind: now), \(bind: actor.type.rawValue), \(bind: actor.id), \(bind: actor.name),
                \(bind: actor.sourceAddress), \(bind: action.rawValue), \(bind: target.type), \(bind: target.id), \(bind: target.name),
                \(bind: try json(old)), \(bind: try json(new)))
            """).run()
    }

    /// Audit entries newest first, filtered; `actor` matches the actor's id or name.
    public func auditEvents(tenant: String, query: AuditQuery, limit: Int, after cursor: String?) async throws -> Page<AuditEvent> {
        let position = try cursor.map(ReportCursor.init(encoded:))
        return try await read { sql in
            var conditions: [SQLQueryString] = ["tenant_id = \(bind: tenant)"]
            if let actor = query.actor { conditions.append("(actor_id = \(bind: actor) OR actor_name = \(bind: actor))") }
            if let action = query.action { conditions.append("action = \(bind: action)") }
            if let target = query.targetId { conditions.append("target_id = \(bind: target)") }
            if let since = query.since { conditions.append("at >= \(bind: Int64(since.timeIntervalSince1970 * 1000))") }
            if let until = query.until { conditions.append("at < \(bind: Int64(until.timeIntervalSince1970 * 1000))") }
            if let position, let at = Int64(position.name) {
                conditions.append("(at < \(bind: at) OR (at = \(bind: at) AND id < \(bind: position.id)))")
            }
            var whereClause = SQLQueryString("")
            for (index, condition) in conditions.enumerated() {
                whereClause += SQLQueryString(index == 0 ? " WHERE " : " AND ")
                whereClause += condition
            }
            let rows = try await sql.raw("""
                SELECT id, at, actor_type, actor_id, actor_name, source_address, action, target_type, target_id, target_name, old_value, new_value
                FROM audit_events\(whereClause) ORDER BY at DESC, id DESC LIMIT \(bind: limit + 1)
                """).all()
            let events = try rows.prefix(limit).map { row in
                AuditEvent(
                    id: try row.string("id"), at: Timestamp.date(try row.millis("at")),
                    actor: AuditActor(type: AuditActor.Kind(rawValue: try row.string("actor_type")) ?? .system, id: try row.string("actor_id"),
                                      name: try row.string("actor_name"), sourceAddress: try row.optionalString("source_address")),
                    action: AuditAction(rawValue: try row.string("action")),
                    target: .init(type: try row.string("target_type"), id: try row.string("target_id"), name: try row.string("target_name")),
                    oldValue: try row.optionalString("old_value").map { try CanonicalJSON.decode(JSONValue.self, from: $0) },
                    newValue: try row.optionalString("new_value").map { try CanonicalJSON.decode(JSONValue.self, from: $0) })
            }
            let next = rows.count > limit ? events.last.map { ReportCursor(name: String(Int64($0.at.timeIntervalSince1970 * 1000)), id: $0.id).encoded } : nil
            return Page(items: events, nextCursor: next)
        }
    }
}

/// Lets a value of any encodable type go through `CanonicalJSON`.
struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

import Foundation
import PalisadeCore
import SQLKit

/// One line of a policy's history (`GET /policies/{id}/revisions`).
public struct PolicyRevisionSummary: Codable, Sendable, Hashable {
    public var revision: Int
    public var name: String
    public var createdAt: Date
    /// Who made the revision, when the audit log names it (revisions made before the audit
    /// log existed have none).
    public var createdBy: AuditActor?
    /// Set when the revision is a rollback: the revision it restored.
    public var restoredRevision: Int?
    public var settingCount: Int
}

/// A policy's full content at one revision (`GET /policies/{id}/revisions/{n}`).
public struct PolicyRevision: Codable, Sendable, Hashable {
    public var policyId: String
    public var revision: Int
    public var name: String
    public var description: String
    public var settings: [String: JSONValue]
    public var createdAt: Date
    public var createdBy: AuditActor?
    public var restoredRevision: Int?
}

/// The audit event's `newValue` of a rollback.
struct RolledBackPolicy: Encodable, Sendable {
    var restoredRevision: Int
    var policy: Policy
}

extension PalisadeStore {
    /// A policy's revisions, newest first, `limit` after `cursor` (the last revision number of
    /// the previous page). The revisions of a deleted policy stay readable; a policy that
    /// never existed (in this tenant) is 404.
    public func policyRevisions(tenant: String, policy id: String, limit: Int = 100, after cursor: String? = nil) async throws -> Page<PolicyRevisionSummary> {
        let before: Int?
        if let cursor {
            guard let value = Int(cursor), value > 0 else { throw DomainError.unknownCursor }
            before = value
        } else {
            before = nil
        }
        return try await readSnapshot { sql in
            try await Self.requirePolicyHistory(tenant: tenant, policy: id, on: sql)
            let rows = try await sql.raw("""
                SELECT revision, name, settings, created_at FROM policy_revisions
                WHERE tenant_id = \(bind: tenant) AND policy_id = \(bind: id) AND revision < \(bind: before ?? Int.max)
                ORDER BY revision DESC LIMIT \(bind: limit + 1)
                """).all()
            let kept = Array(rows.prefix(limit))
            let authors = try await Self.revisionAuthors(tenant: tenant, policy: id, at: try kept.map { try $0.millis("created_at") }, on: sql)
            let items = try kept.map { row in
                let revision = try row.int("revision")
                let author = authors[revision]
                return PolicyRevisionSummary(
                    revision: revision, name: try row.string("name"), createdAt: Timestamp.date(try row.millis("created_at")),
                    createdBy: author?.actor, restoredRevision: author?.restoredRevision,
                    settingCount: try row.json("settings", as: [String: JSONValue].self).count)
            }
            return Page(items: items, nextCursor: rows.count > limit ? items.last.map { String($0.revision) } : nil)
        }
    }

    /// One revision in full. 404 names the revision when the policy has no such revision.
    public func policyRevision(tenant: String, policy id: String, revision: Int) async throws -> PolicyRevision {
        try await readSnapshot { sql in
            try await Self.requirePolicyHistory(tenant: tenant, policy: id, on: sql)
            return try await Self.policyRevision(tenant: tenant, policy: id, revision: revision, on: sql)
        }
    }

    /// What changed from revision `against` to revision `revision` (pure diff in
    /// `PolicyRevisionDiff`); `against` nil compares with the revision before.
    public func policyRevisionDiff(tenant: String, policy id: String, revision: Int, against: Int?) async throws -> PolicyRevisionDiff {
        try await readSnapshot { sql in
            try await Self.requirePolicyHistory(tenant: tenant, policy: id, on: sql)
            let target = try await Self.policyRevision(tenant: tenant, policy: id, revision: revision, on: sql)
            guard let baseRevision = against ?? (revision > 1 ? revision - 1 : nil) else {
                throw DomainError.invalid("revision 1 has no revision before it: give ?against=", field: "against")
            }
            let base = try await Self.policyRevision(tenant: tenant, policy: id, revision: baseRevision, on: sql, field: "against")
            return PolicyRevisionDiff(policyId: id, from: base.content, to: target.content)
        }
    }

    /// A policy that exists, or existed (its revisions are kept after deletion).
    static func requirePolicyHistory(tenant: String, policy id: String, on sql: any SQLDatabase) async throws {
        guard try await sql.raw("SELECT revision FROM policy_revisions WHERE tenant_id = \(bind: tenant) AND policy_id = \(bind: id) LIMIT 1").first() != nil else {
            throw DomainError.notFound("policy", id: id)
        }
    }

    static func policyRevision(tenant: String, policy id: String, revision: Int, on sql: any SQLDatabase, field: String = "revision") async throws -> PolicyRevision {
        guard let row = try await sql.raw("""
            SELECT revision, name, description, settings, created_at FROM policy_revisions
            WHERE tenant_id = \(bind: tenant) AND policy_id = \(bind: id) AND revision = \(bind: revision)
            """).first() else {
            throw DomainError(.notFound, code: .notFound, message: "policy \(id) has no revision \(revision)",
                                details: .object(["field": .string(field), "policyId": .string(id), "revision": .integer(Int64(revision))]))
        }
        let createdAt = try row.millis("created_at")
        let author = try await revisionAuthors(tenant: tenant, policy: id, at: [createdAt], on: sql)[revision]
        return PolicyRevision(
            policyId: id, revision: revision, name: try row.string("name"), description: try row.string("description"),
            settings: try row.json("settings", as: [String: JSONValue].self), createdAt: Timestamp.date(createdAt),
            createdBy: author?.actor, restoredRevision: author?.restoredRevision)
    }

    /// Who made each revision, from the audit events written in the same transaction as the
    /// revision (same time, same policy); matched by the revision number the event recorded.
    static func revisionAuthors(tenant: String, policy id: String, at times: [Int64], on sql: any SQLDatabase) async throws -> [Int: (actor: AuditActor, restoredRevision: Int?)] {
        var authors: [Int: (actor: AuditActor, restoredRevision: Int?)] = [:]
        for chunk in Array(Set(times)).sorted().chunked() {
            let rows = try await sql.raw("""
                SELECT actor_type, actor_id, actor_name, new_value FROM audit_events
                WHERE tenant_id = \(bind: tenant) AND target_id = \(bind: id) AND at IN (\(binds: chunk))
                    AND action IN (\(bind: AuditAction.policyCreate.rawValue), \(bind: AuditAction.policyUpdate.rawValue), \(bind: AuditAction.policyRollback.rawValue))
                """).all()
            for row in rows {
                guard let text = try row.optionalString("new_value"),
                      case .object(let value)? = try? CanonicalJSON.decode(JSONValue.self, from: text) else { continue }
                let policy = value["policy"]?.objectValue ?? value
                guard let revision = policy["revision"]?.integerValue else { continue }
                // Who, not from where: the source address stays in the audit log (readAudit).
                let actor = AuditActor(type: AuditActor.Kind(rawValue: try row.string("actor_type")) ?? .system, id: try row.string("actor_id"),
                                       name: try row.string("actor_name"))
                authors[Int(revision)] = (actor, value["restoredRevision"]?.integerValue.map(Int.init))
            }
        }
        return authors
    }
}

extension PolicyRevision {
    var content: PolicyRevisionDiff.Content {
        .init(revision: revision, name: name, description: description, settings: settings)
    }
}

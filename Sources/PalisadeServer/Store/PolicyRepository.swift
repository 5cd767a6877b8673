import Foundation
import PalisadeCore
import SQLKit

/// Policies, their assignments and revisions in SQL: values in, values out, no rules. The
/// rules (what a valid policy is, what may change) live in `PolicyService`.
enum PolicyRepository {
    static let columns = "id, name, description, platform, template, revision, settings, created_at, updated_at"

    static func insert(id: String, tenant: String, _ draft: PolicyDraft, at now: Int64, on sql: any SQLDatabase) async throws {
        let settingsJSON = try encodeJSON(draft.settings)
        try await sql.raw("""
            INSERT INTO policies (id, tenant_id, name, description, platform, template, revision, settings, created_at, updated_at)
            VALUES (\(bind: id), \(bind: tenant), \(bind: draft.name), \(bind: draft.description), \(bind: draft.platform.rawValue),
                \(bind: draft.template.rawValue), 1, \(bind: settingsJSON), \(bind: now), \(bind: now))
            """).run()
        try await insertRevision(policy: id, revision: 1, tenant: tenant, draft: draft, settingsJSON: settingsJSON, at: now, on: sql)
    }

    /// Name, description and settings as revision `revision` (platform and template are not
    /// columns an update writes).
    static func update(id: String, tenant: String, _ draft: PolicyDraft, revision: Int, at now: Int64, on sql: any SQLDatabase) async throws {
        let settingsJSON = try encodeJSON(draft.settings)
        try await sql.raw("""
            UPDATE policies SET name = \(bind: draft.name), description = \(bind: draft.description), settings = \(bind: settingsJSON),
                revision = \(bind: revision), updated_at = \(bind: now)
            WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)
            """).run()
        try await insertRevision(policy: id, revision: revision, tenant: tenant, draft: draft, settingsJSON: settingsJSON, at: now, on: sql)
    }

    /// The policy and its assignments; its revisions stay as history.
    static func delete(id: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("DELETE FROM policy_assignments WHERE tenant_id = \(bind: tenant) AND policy_id = \(bind: id)").run()
        try await sql.raw("DELETE FROM policies WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
    }

    static func replaceAssignments(policy id: String, tenant: String, include: [String], exclude: [String], on sql: any SQLDatabase) async throws {
        try await sql.raw("DELETE FROM policy_assignments WHERE tenant_id = \(bind: tenant) AND policy_id = \(bind: id)").run()
        let rows = include.map { ($0, "include") } + exclude.map { ($0, "exclude") }
        for chunk in rows.chunked() {
            try await sql.raw(SQLQueryString.insert(
                "INSERT INTO policy_assignments (tenant_id, policy_id, group_id, mode) VALUES ",
                rows: chunk.map { "(\(bind: tenant), \(bind: id), \(bind: $0.0), \(bind: $0.1))" })).run()
        }
    }

    /// Which of these group ids exist in the tenant.
    static func existingGroups(_ ids: [String], tenant: String, on sql: any SQLDatabase) async throws -> Set<String> {
        var found: Set<String> = []
        for chunk in ids.chunked() {
            for row in try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all() {
                found.insert(try row.string("id"))
            }
        }
        return found
    }

    static func page(tenant: String, limit: Int, after cursor: String?, on sql: any SQLDatabase) async throws -> Page<Policy> {
        let rows = try await sql.raw("""
            SELECT \(unsafeRaw: columns) FROM policies
            WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
            """).all()
        // The row past the limit only says that another page follows.
        let page = Array(rows.prefix(limit))
        let assignments = try await assignments(of: try page.map { try $0.string("id") }, tenant: tenant, on: sql)
        let items = try page.map { try policy($0, assignments: assignments[try $0.string("id")] ?? PolicyAssignments(include: [], exclude: [])) }
        return Page(items: items, nextCursor: rows.count > limit ? items.last?.id : nil)
    }

    static func policy(tenant: String, id: String, on sql: any SQLDatabase) async throws -> Policy {
        guard let row = try await sql.raw("SELECT \(unsafeRaw: columns) FROM policies WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first() else {
            throw DomainError.notFound("policy", id: id)
        }
        return try policy(row, assignments: try await assignments(of: [id], tenant: tenant, on: sql)[id] ?? PolicyAssignments(include: [], exclude: []))
    }

    /// The assignments of these policies, in one query per 500 policies.
    static func assignments(of ids: [String], tenant: String, on sql: any SQLDatabase) async throws -> [String: PolicyAssignments] {
        var result: [String: PolicyAssignments] = [:]
        for chunk in ids.chunked() {
            let rows = try await sql.raw("""
                SELECT policy_id, group_id, mode FROM policy_assignments
                WHERE tenant_id = \(bind: tenant) AND policy_id IN (\(binds: chunk)) ORDER BY group_id
                """).all()
            for row in rows {
                let policy = try row.string("policy_id")
                let group = try row.string("group_id")
                if try row.string("mode") == "exclude" {
                    result[policy, default: PolicyAssignments(include: [], exclude: [])].exclude.append(group)
                } else {
                    result[policy, default: PolicyAssignments(include: [], exclude: [])].include.append(group)
                }
            }
        }
        return result
    }

    static func policy(_ row: any SQLRow, assignments: PolicyAssignments) throws -> Policy {
        let id = try row.string("id")
        guard let platform = PolicyPlatform(rawValue: try row.string("platform")),
              let template = PolicyTemplate(rawValue: try row.string("template")) else {
            throw StoreError.corrupt("policy \(id) has an unknown platform or template")
        }
        return Policy(
            id: id, name: try row.string("name"), description: try row.string("description"),
            platform: platform, template: template, revision: try row.int("revision"),
            settings: try row.json("settings", as: [String: JSONValue].self),
            assignments: assignments,
            createdAt: Timestamp.date(try row.millis("created_at")), updatedAt: Timestamp.date(try row.millis("updated_at")))
    }

    static func insertRevision(policy: String, revision: Int, tenant: String, draft: PolicyDraft, settingsJSON: String, at now: Int64, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO policy_revisions (policy_id, revision, tenant_id, name, description, settings, created_at)
            VALUES (\(bind: policy), \(bind: revision), \(bind: tenant), \(bind: draft.name), \(bind: draft.description), \(bind: settingsJSON), \(bind: now))
            """).run()
    }
}

import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    public struct PolicyDraft: Sendable {
        public var name: String
        public var description: String
        public var platform: PolicyPlatform
        public var template: PolicyTemplate
        public var settings: [String: JSONValue]

        public init(name: String, description: String, platform: PolicyPlatform, template: PolicyTemplate, settings: [String: JSONValue]) {
            self.name = name
            self.description = description
            self.platform = platform
            self.template = template
            self.settings = settings
        }
    }

    func validate(_ draft: PolicyDraft) throws -> PolicyDraft {
        var draft = draft
        draft.name = try InputRules.name(draft.name)
        let problems = PolicyValidator(catalog: catalog).problems(platform: draft.platform, template: draft.template, settings: draft.settings)
        guard problems.isEmpty else { throw DomainError.invalidSettings(problems) }
        return draft
    }

    public func createPolicy(tenant: String, by actor: AuditActor, _ draft: PolicyDraft) async throws -> Policy {
        let draft = try validate(draft)
        let id = Identifier.make()
        let now = clock.nowMillis
        let settingsJSON = try encodeJSON(draft.settings)
        return try await writeDirectory(tenant: tenant) { sql, directory in
            try await sql.raw("""
                INSERT INTO policies (id, tenant_id, name, description, platform, template, revision, settings, created_at, updated_at)
                VALUES (\(bind: id), \(bind: tenant), \(bind: draft.name), \(bind: draft.description), \(bind: draft.platform.rawValue),
                    \(bind: draft.template.rawValue), 1, \(bind: settingsJSON), \(bind: now), \(bind: now))
                """).run()
            try await Self.insertRevision(policy: id, revision: 1, tenant: tenant, draft: draft, settingsJSON: settingsJSON, at: now, on: sql)
            directory.policyChanged(id)
            let created = try await Self.policy(tenant: tenant, id: id, on: sql)
            try await Self.audit(.policyCreate, by: actor, tenant: tenant, target: ("policy", id, created.name), new: created, at: now, on: sql)
            return created
        }
    }

    /// Replaces a policy's name, description and settings as a new revision. Platform and
    /// template are fixed at creation.
    public func updatePolicy(tenant: String, by actor: AuditActor, id: String, _ draft: PolicyDraft) async throws -> Policy {
        try await replacePolicy(tenant: tenant, by: actor, id: id, try validate(draft), action: .policyUpdate)
    }

    /// The update path, shared by updates and rollbacks: a new revision, the devices
    /// recomputed and their long-polls woken, one audit event (`action`; a rollback's names
    /// the revision it restored).
    func replacePolicy(tenant: String, by actor: AuditActor, id: String, _ draft: PolicyDraft, action: AuditAction, restoredRevision: Int? = nil) async throws -> Policy {
        let settingsJSON = try encodeJSON(draft.settings)
        let now = clock.nowMillis
        return try await writeDirectory(tenant: tenant) { sql, directory in
            let current = try await Self.policy(tenant: tenant, id: id, on: sql)
            guard current.platform == draft.platform else {
                throw DomainError.invalid("platform cannot change (policy is \(current.platform.rawValue), got \(draft.platform.rawValue)); create a new policy", field: "platform")
            }
            guard current.template == draft.template else {
                throw DomainError.invalid("template cannot change (policy is \(current.template.rawValue), got \(draft.template.rawValue)); create a new policy", field: "template")
            }
            let revision = current.revision + 1
            try await sql.raw("""
                UPDATE policies SET name = \(bind: draft.name), description = \(bind: draft.description), settings = \(bind: settingsJSON),
                    revision = \(bind: revision), updated_at = \(bind: now)
                WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)
                """).run()
            try await Self.insertRevision(policy: id, revision: revision, tenant: tenant, draft: draft, settingsJSON: settingsJSON, at: now, on: sql)
            directory.policyChanged(id)
            let updated = try await Self.policy(tenant: tenant, id: id, on: sql)
            if let restoredRevision {
                try await Self.audit(action, by: actor, tenant: tenant, target: ("policy", id, updated.name), old: current,
                                     new: RolledBackPolicy(restoredRevision: restoredRevision, policy: updated), at: now, on: sql)
            } else {
                try await Self.audit(action, by: actor, tenant: tenant, target: ("policy", id, updated.name), old: current, new: updated, at: now, on: sql)
            }
            return updated
        }
    }

    /// Deletes a policy; the devices it reached lose its settings. Its revisions stay as history.
    public func deletePolicy(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = clock.nowMillis
        try await writeDirectory(tenant: tenant) { sql, directory in
            let old = try await Self.policy(tenant: tenant, id: id, on: sql)
            try await Self.audit(.policyDelete, by: actor, tenant: tenant, target: ("policy", id, old.name), old: old, at: now, on: sql)
            try await sql.raw("DELETE FROM policy_assignments WHERE policy_id = \(bind: id)").run()
            try await sql.raw("DELETE FROM policies WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
            directory.policyChanged(id)
        }
    }

    public func setAssignments(tenant: String, by actor: AuditActor, policy id: String, include: [String], exclude: [String]) async throws -> Policy {
        let include = Array(Set(include)).sorted()
        let exclude = Array(Set(exclude)).sorted()
        let both = Set(include).intersection(exclude)
        guard both.isEmpty else {
            throw DomainError.invalid("groups cannot be both included and excluded: \(both.sorted().joined(separator: ", "))", field: "exclude")
        }
        let now = clock.nowMillis
        return try await writeDirectory(tenant: tenant) { sql, directory in
            let old = try await Self.policy(tenant: tenant, id: id, on: sql)
            let all = include + exclude
            var found: Set<String> = []
            for chunk in all.chunked() {
                for row in try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all() {
                    found.insert(try row.string("id"))
                }
            }
            let missing = all.filter { !found.contains($0) }
            guard missing.isEmpty else { throw DomainError.unknownGroups(missing, field: "assignments") }
            try await sql.raw("DELETE FROM policy_assignments WHERE policy_id = \(bind: id)").run()
            let rows = include.map { ($0, "include") } + exclude.map { ($0, "exclude") }
            for chunk in rows.chunked() {
                try await sql.raw(SQLQueryString.insert(
                    "INSERT INTO policy_assignments (tenant_id, policy_id, group_id, mode) VALUES ",
                    rows: chunk.map { "(\(bind: tenant), \(bind: id), \(bind: $0.0), \(bind: $0.1))" })).run()
            }
            directory.policyChanged(id)
            let updated = try await Self.policy(tenant: tenant, id: id, on: sql)
            try await Self.audit(.policyAssign, by: actor, tenant: tenant, target: ("policy", id, old.name),
                                 old: old.assignments, new: updated.assignments, at: now, on: sql)
            return updated
        }
    }

    public func policies(tenant: String, limit: Int, after cursor: String?) async throws -> Page<Policy> {
        try await readSnapshot { sql in
            let rows = try await sql.raw("""
                SELECT \(unsafeRaw: Self.policyColumns) FROM policies
                WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
                """).all()
            // The row past the limit only says that another page follows.
            let page = Array(rows.prefix(limit))
            let assignments = try await Self.assignments(of: try page.map { try $0.string("id") }, on: sql)
            let items = try page.map { try Self.policy($0, assignments: assignments[try $0.string("id")] ?? PolicyAssignments(include: [], exclude: [])) }
            return Page(items: items, nextCursor: rows.count > limit ? items.last?.id : nil)
        }
    }

    public func policy(tenant: String, id: String) async throws -> Policy {
        try await readSnapshot { sql in try await Self.policy(tenant: tenant, id: id, on: sql) }
    }

    static let policyColumns = "id, name, description, platform, template, revision, settings, created_at, updated_at"

    static func policy(tenant: String, id: String, on sql: any SQLDatabase) async throws -> Policy {
        guard let row = try await sql.raw("SELECT \(unsafeRaw: policyColumns) FROM policies WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first() else {
            throw DomainError.notFound("policy", id: id)
        }
        return try policy(row, assignments: try await assignments(of: [id], on: sql)[id] ?? PolicyAssignments(include: [], exclude: []))
    }

    /// The assignments of these policies, in one query per 500 policies.
    static func assignments(of ids: [String], on sql: any SQLDatabase) async throws -> [String: PolicyAssignments] {
        var result: [String: PolicyAssignments] = [:]
        for chunk in ids.chunked() {
            for row in try await sql.raw("SELECT policy_id, group_id, mode FROM policy_assignments WHERE policy_id IN (\(binds: chunk)) ORDER BY group_id").all() {
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

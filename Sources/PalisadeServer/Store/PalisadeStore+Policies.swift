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
        draft.name = draft.name.trimmingCharacters(in: .whitespaces)
        guard !draft.name.isEmpty, draft.name.count <= 200 else {
            throw PalisadeError.invalid("name must be 1 to 200 characters", field: "name")
        }
        let problems = PolicyValidator(catalog: catalog).problems(platform: draft.platform, template: draft.template, settings: draft.settings)
        guard problems.isEmpty else { throw PalisadeError.invalidSettings(problems) }
        return draft
    }

    public func createPolicy(tenant: String, _ draft: PolicyDraft) async throws -> Policy {
        let draft = try validate(draft)
        let id = Identifier.make()
        let now = Timestamp.nowMillis()
        let settingsJSON = try encodeJSON(draft.settings)
        return try await writeDirectory(tenant: tenant) { sql, directory in
            try await sql.raw("""
                INSERT INTO policies (id, tenant_id, name, description, platform, template, revision, settings, created_at, updated_at)
                VALUES (\(bind: id), \(bind: tenant), \(bind: draft.name), \(bind: draft.description), \(bind: draft.platform.rawValue),
                    \(bind: draft.template.rawValue), 1, \(bind: settingsJSON), \(bind: now), \(bind: now))
                """).run()
            try await Self.insertRevision(policy: id, revision: 1, tenant: tenant, draft: draft, settingsJSON: settingsJSON, at: now, on: sql)
            directory.policyChanged(id)
            return try await Self.policy(tenant: tenant, id: id, on: sql)
        }
    }

    /// Replaces a policy's name, description and settings as a new revision. Platform and
    /// template are fixed at creation.
    public func updatePolicy(tenant: String, id: String, _ draft: PolicyDraft) async throws -> Policy {
        let draft = try validate(draft)
        let settingsJSON = try encodeJSON(draft.settings)
        let now = Timestamp.nowMillis()
        return try await writeDirectory(tenant: tenant) { sql, directory in
            let current = try await Self.policy(tenant: tenant, id: id, on: sql)
            guard current.platform == draft.platform else {
                throw PalisadeError.invalid("platform cannot change (policy is \(current.platform.rawValue), got \(draft.platform.rawValue)); create a new policy", field: "platform")
            }
            guard current.template == draft.template else {
                throw PalisadeError.invalid("template cannot change (policy is \(current.template.rawValue), got \(draft.template.rawValue)); create a new policy", field: "template")
            }
            let revision = current.revision + 1
            try await sql.raw("""
                UPDATE policies SET name = \(bind: draft.name), description = \(bind: draft.description), settings = \(bind: settingsJSON),
                    revision = \(bind: revision), updated_at = \(bind: now)
                WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)
                """).run()
            try await Self.insertRevision(policy: id, revision: revision, tenant: tenant, draft: draft, settingsJSON: settingsJSON, at: now, on: sql)
            directory.policyChanged(id)
            return try await Self.policy(tenant: tenant, id: id, on: sql)
        }
    }

    /// Deletes a policy; the devices it reached lose its settings. Its revisions stay as history.
    public func deletePolicy(tenant: String, id: String) async throws {
        try await writeDirectory(tenant: tenant) { sql, directory in
            _ = try await Self.policy(tenant: tenant, id: id, on: sql)
            try await sql.raw("DELETE FROM policy_assignments WHERE policy_id = \(bind: id)").run()
            try await sql.raw("DELETE FROM policies WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
            directory.policyChanged(id)
        }
    }

    public func setAssignments(tenant: String, policy id: String, include: [String], exclude: [String]) async throws -> Policy {
        let include = Array(Set(include)).sorted()
        let exclude = Array(Set(exclude)).sorted()
        let both = Set(include).intersection(exclude)
        guard both.isEmpty else {
            throw PalisadeError.invalid("groups cannot be both included and excluded: \(both.sorted().joined(separator: ", "))", field: "exclude")
        }
        return try await writeDirectory(tenant: tenant) { sql, directory in
            _ = try await Self.policy(tenant: tenant, id: id, on: sql)
            let all = include + exclude
            var found: Set<String> = []
            for chunk in all.chunked() {
                for row in try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all() {
                    found.insert(try row.string("id"))
                }
            }
            let missing = all.filter { !found.contains($0) }
            guard missing.isEmpty else {
                throw PalisadeError(.badRequest, code: "unknown_group", message: "assignments name groups that do not exist: \(missing.joined(separator: ", "))",
                                    details: .object(["unknown": .array(missing.map(JSONValue.string))]))
            }
            try await sql.raw("DELETE FROM policy_assignments WHERE policy_id = \(bind: id)").run()
            for (groups, mode) in [(include, "include"), (exclude, "exclude")] {
                for group in groups {
                    try await sql.raw("""
                        INSERT INTO policy_assignments (tenant_id, policy_id, group_id, mode)
                        VALUES (\(bind: tenant), \(bind: id), \(bind: group), \(bind: mode))
                        """).run()
                }
            }
            directory.policyChanged(id)
            return try await Self.policy(tenant: tenant, id: id, on: sql)
        }
    }

    public func policies(tenant: String, limit: Int, after cursor: String?) async throws -> Page<Policy> {
        try await read { sql in
            let rows = try await sql.raw("""
                SELECT \(unsafeRaw: Self.policyColumns) FROM policies
                WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor ?? "") ORDER BY id LIMIT \(bind: limit + 1)
                """).all()
            var items: [Policy] = []
            for row in rows.prefix(limit) {
                items.append(try await Self.policy(row, on: sql))
            }
            // The row past the limit only says that another page follows.
            return Page(items: items, nextCursor: rows.count > limit ? items.last?.id : nil)
        }
    }

    public func policy(tenant: String, id: String) async throws -> Policy {
        try await read { sql in try await Self.policy(tenant: tenant, id: id, on: sql) }
    }

    static let policyColumns = "id, name, description, platform, template, revision, settings, created_at, updated_at"

    static func policy(tenant: String, id: String, on sql: any SQLDatabase) async throws -> Policy {
        guard let row = try await sql.raw("SELECT \(unsafeRaw: policyColumns) FROM policies WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first() else {
            throw PalisadeError.notFound("policy", id: id)
        }
        return try await policy(row, on: sql)
    }

    static func policy(_ row: any SQLRow, on sql: any SQLDatabase) async throws -> Policy {
        let id = try row.string("id")
        var include: [String] = []
        var exclude: [String] = []
        for assignment in try await sql.raw("SELECT group_id, mode FROM policy_assignments WHERE policy_id = \(bind: id) ORDER BY group_id").all() {
            if try assignment.string("mode") == "exclude" {
                exclude.append(try assignment.string("group_id"))
            } else {
                include.append(try assignment.string("group_id"))
            }
        }
        guard let platform = PolicyPlatform(rawValue: try row.string("platform")),
              let template = PolicyTemplate(rawValue: try row.string("template")) else {
            throw StoreError.corrupt("policy \(id) has an unknown platform or template")
        }
        return Policy(
            id: id, name: try row.string("name"), description: try row.string("description"),
            platform: platform, template: template, revision: try row.int("revision"),
            settings: try row.json("settings", as: [String: JSONValue].self),
            assignments: PolicyAssignments(include: include, exclude: exclude),
            createdAt: Timestamp.date(try row.millis("created_at")), updatedAt: Timestamp.date(try row.millis("updated_at")))
    }

    static func insertRevision(policy: String, revision: Int, tenant: String, draft: PolicyDraft, settingsJSON: String, at now: Int64, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO policy_revisions (policy_id, revision, tenant_id, name, description, settings, created_at)
            VALUES (\(bind: policy), \(bind: revision), \(bind: tenant), \(bind: draft.name), \(bind: draft.description), \(bind: settingsJSON), \(bind: now))
            """).run()
    }
}

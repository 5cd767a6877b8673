import Foundation
import PalisadeCore
import SQLKit

/// Groups, their listed members and their nesting in SQL: values in, values out. The rules
/// (unique names, static versus dynamic, no cycles) live in `GroupService`.
enum GroupRepository {
    static let select = "SELECT g.id, g.name, g.description, g.created_at, g.membership_rule FROM device_groups g"

    /// A group row; its member count comes from the directory engine (`withMemberCounts`).
    static func group(_ row: any SQLRow) throws -> DeviceGroup {
        DeviceGroup(id: try row.string("id"), name: try row.string("name"), description: try row.string("description"),
                    membershipRule: try row.optionalString("membership_rule"),
                    nestedGroups: nil,
                    memberCount: 0, createdAt: Timestamp.date(try row.millis("created_at")))
    }

    /// The group as stored, without its member count: for checks inside write transactions.
    static func group(tenant: String, id: String, on sql: any SQLDatabase) async throws -> DeviceGroup {
        guard let row = try await sql.raw("\(unsafeRaw: select) WHERE g.tenant_id = \(bind: tenant) AND g.id = \(bind: id)").first() else {
            throw DomainError.notFound("group", id: id)
        }
        return try await withNesting([try group(row)], tenant: tenant, on: sql)[0]
    }

    static func page(tenant: String, limit: Int, after cursor: String?, on sql: any SQLDatabase) async throws -> Page<DeviceGroup> {
        let rows = try await sql.raw("""
            \(unsafeRaw: select) WHERE g.tenant_id = \(bind: tenant) AND g.id > \(bind: cursor ?? "") ORDER BY g.id LIMIT \(bind: limit + 1)
            """).all()
        let page = Page(fetched: try rows.map(group), limit: limit, id: \.id)
        return Page(items: try await withNesting(page.items, tenant: tenant, on: sql), nextCursor: page.nextCursor)
    }

    /// These groups as stored (unknown ids are left out).
    static func groups(_ ids: [String], tenant: String, on sql: any SQLDatabase) async throws -> [DeviceGroup] {
        var groups: [DeviceGroup] = []
        for chunk in ids.chunked() {
            let rows = try await sql.raw("\(unsafeRaw: select) WHERE g.tenant_id = \(bind: tenant) AND g.id IN (\(binds: chunk))").all()
            groups += try rows.map(group)
        }
        return groups
    }

    /// Member counts are the group's own members: listed devices, or those its rule selects.
    static func withMemberCounts(_ groups: [DeviceGroup], _ index: DirectoryIndex) -> [DeviceGroup] {
        groups.map { group in
            var group = group
            group.memberCount = index.directMemberCount(of: group.id)
            return group
        }
    }

    static func withNesting(_ groups: [DeviceGroup], tenant: String, on sql: any SQLDatabase) async throws -> [DeviceGroup] {
        guard !groups.isEmpty else { return groups }
        var children: [String: [String]] = [:]
        for chunk in groups.map(\.id).chunked() {
            for row in try await sql.raw("SELECT parent_id, child_id FROM group_nesting WHERE tenant_id = \(bind: tenant) AND parent_id IN (\(binds: chunk))").all() {
                children[try row.string("parent_id"), default: []].append(try row.string("child_id"))
            }
        }
        return groups.map { group in
            var group = group
            group.nestedGroups = group.membershipRule == nil ? (children[group.id] ?? []).sorted() : nil
            return group
        }
    }

    static func nameIsTaken(_ name: String, tenant: String, on sql: any SQLDatabase) async throws -> Bool {
        try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND name = \(bind: name)").first() != nil
    }

    /// Which of these device ids exist in the tenant.
    static func existingDevices(_ ids: [String], tenant: String, on sql: any SQLDatabase) async throws -> Set<String> {
        var found: Set<String> = []
        for chunk in ids.chunked() {
            let rows = try await sql.raw("SELECT id FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all()
            for row in rows { found.insert(try row.string("id")) }
        }
        return found
    }

    static func insert(id: String, tenant: String, name: String, description: String, membershipRule: String?, at now: Int64, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            INSERT INTO device_groups (id, tenant_id, name, description, created_at, membership_rule)
            VALUES (\(bind: id), \(bind: tenant), \(bind: name), \(bind: description), \(bind: now), \(bind: membershipRule))
            """).run()
    }

    static func update(id: String, tenant: String, name: String?, description: String?, membershipRule: String?, on sql: any SQLDatabase) async throws {
        if let name {
            try await sql.raw("UPDATE device_groups SET name = \(bind: name) WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
        }
        if let description {
            try await sql.raw("UPDATE device_groups SET description = \(bind: description) WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
        }
        if let membershipRule {
            try await sql.raw("UPDATE device_groups SET membership_rule = \(bind: membershipRule) WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
        }
    }

    /// The group, its nesting both ways, its assignments and its listed members.
    static func delete(id: String, tenant: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("DELETE FROM group_nesting WHERE tenant_id = \(bind: tenant) AND (parent_id = \(bind: id) OR child_id = \(bind: id))").run()
        try await sql.raw("DELETE FROM policy_assignments WHERE tenant_id = \(bind: tenant) AND group_id = \(bind: id)").run()
        try await sql.raw("DELETE FROM group_members WHERE tenant_id = \(bind: tenant) AND group_id = \(bind: id)").run()
        try await sql.raw("DELETE FROM device_groups WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").run()
    }

    /// Lists devices in a static group, in batches; devices already listed stay as they are.
    static func insertMembers(_ ids: [String], group: String, tenant: String, at now: Int64, on sql: any SQLDatabase) async throws {
        for chunk in ids.chunked() {
            try await sql.raw(SQLQueryString.insert(
                "INSERT INTO group_members (tenant_id, group_id, device_id, added_at) VALUES ",
                rows: chunk.map { "(\(bind: tenant), \(bind: group), \(bind: $0), \(bind: now))" },
                suffix: " ON CONFLICT (group_id, device_id) DO NOTHING")).run()
        }
    }

    static func insertNesting(_ children: [String], in parent: String, tenant: String, on sql: any SQLDatabase) async throws {
        guard !children.isEmpty else { return }
        try await sql.raw(SQLQueryString.insert(
            "INSERT INTO group_nesting (tenant_id, parent_id, child_id) VALUES ",
            rows: children.map { "(\(bind: tenant), \(bind: parent), \(bind: $0))" },
            suffix: " ON CONFLICT (parent_id, child_id) DO NOTHING")).run()
    }

    /// Removes a nested group or a listed device from `group`; false when it is neither.
    static func removeMember(_ memberId: String, from group: String, tenant: String, on sql: any SQLDatabase) async throws -> (removed: Bool, wasGroup: Bool) {
        if try await sql.raw("SELECT child_id FROM group_nesting WHERE tenant_id = \(bind: tenant) AND parent_id = \(bind: group) AND child_id = \(bind: memberId)").first() != nil {
            try await sql.raw("DELETE FROM group_nesting WHERE tenant_id = \(bind: tenant) AND parent_id = \(bind: group) AND child_id = \(bind: memberId)").run()
            return (true, true)
        }
        guard try await sql.raw("SELECT device_id FROM group_members WHERE tenant_id = \(bind: tenant) AND group_id = \(bind: group) AND device_id = \(bind: memberId)").first() != nil else {
            return (false, false)
        }
        try await sql.raw("DELETE FROM group_members WHERE tenant_id = \(bind: tenant) AND group_id = \(bind: group) AND device_id = \(bind: memberId)").run()
        return (true, false)
    }

    /// These devices, in the order `orderBy` names.
    static func devices(_ ids: [String], tenant: String, orderBy: String = "id", on sql: any SQLDatabase) async throws -> [Device] {
        guard !ids.isEmpty else { return [] }
        return try await sql.raw("""
            SELECT \(unsafeRaw: PalisadeStore.deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: ids)) ORDER BY \(unsafeRaw: orderBy)
            """).all().map(PalisadeStore.device)
    }
}

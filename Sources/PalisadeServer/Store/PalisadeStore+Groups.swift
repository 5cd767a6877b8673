import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    public func createGroup(tenant: String, name: String, description: String, members: [String], membershipRule: String? = nil) async throws -> DeviceGroup {
        let name = name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= 200 else {
            throw PalisadeError.invalid("name must be 1 to 200 characters", field: "name")
        }
        if let membershipRule {
            guard members.isEmpty else {
                throw PalisadeError.invalid("a dynamic group takes no members: its rule selects them", field: "members")
            }
            return try await createDynamicGroup(tenant: tenant, name: name, description: description, rule: membershipRule)
        }
        let id = Identifier.make()
        let now = Timestamp.nowMillis()
        let memberIds = Array(Set(members)).sorted()
        return try await write(tenant: tenant) { sql in
            if try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND name = \(bind: name)").first() != nil {
                throw PalisadeError(.conflict, code: "group_exists", message: "a group named \"\(name)\" already exists", details: .object(["field": "name"]))
            }
            try await Self.requireDevices(memberIds, tenant: tenant, field: "members", on: sql)
            try await sql.raw("""
                INSERT INTO device_groups (id, tenant_id, name, description, created_at)
                VALUES (\(bind: id), \(bind: tenant), \(bind: name), \(bind: description), \(bind: now))
                """).run()
            try await Self.insertMembers(memberIds, group: id, tenant: tenant, on: sql)
            let changed = try await recompute(tenant: tenant, devices: Set(memberIds), on: sql)
            let group = DeviceGroup(id: id, name: name, description: description, membershipRule: nil, memberCount: memberIds.count, createdAt: Timestamp.date(now))
            return (group, changed)
        }
    }

    static let groupSelect = """
        SELECT g.id, g.name, g.description, g.created_at, g.membership_rule,
            (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS member_count
        FROM device_groups g
        """

    static func group(_ row: any SQLRow) throws -> DeviceGroup {
        DeviceGroup(id: try row.string("id"), name: try row.string("name"), description: try row.string("description"),
                    membershipRule: try row.optionalString("membership_rule"),
                    memberCount: try row.int("member_count"), createdAt: Timestamp.date(try row.millis("created_at")))
    }

    public func groups(tenant: String, limit: Int, after cursor: String?) async throws -> Page<DeviceGroup> {
        try await read { sql in
            let rows = try await sql.raw("""
                \(unsafeRaw: Self.groupSelect) WHERE g.tenant_id = \(bind: tenant) AND g.id > \(bind: cursor ?? "") ORDER BY g.id LIMIT \(bind: limit + 1)
                """).all()
            return Page(fetched: try rows.map(Self.group), limit: limit, id: \.id)
        }
    }

    public func group(tenant: String, id: String) async throws -> DeviceGroup {
        try await read { sql in try await Self.group(tenant: tenant, id: id, on: sql) }
    }

    static func group(tenant: String, id: String, on sql: any SQLDatabase) async throws -> DeviceGroup {
        guard let row = try await sql.raw("\(unsafeRaw: groupSelect) WHERE g.tenant_id = \(bind: tenant) AND g.id = \(bind: id)").first() else {
            throw PalisadeError.notFound("group", id: id)
        }
        return try group(row)
    }

    public func addMembers(tenant: String, group groupId: String, deviceIds: [String]) async throws -> DeviceGroup {
        let ids = Array(Set(deviceIds)).sorted()
        guard !ids.isEmpty else { throw PalisadeError.invalid("deviceIds must name at least one device", field: "deviceIds") }
        return try await write(tenant: tenant) { sql in
            try Self.requireStatic(try await Self.group(tenant: tenant, id: groupId, on: sql))
            try await Self.requireDevices(ids, tenant: tenant, field: "deviceIds", on: sql)
            try await Self.insertMembers(ids, group: groupId, tenant: tenant, on: sql)
            let changed = try await recompute(tenant: tenant, devices: Set(ids), on: sql)
            return (try await Self.group(tenant: tenant, id: groupId, on: sql), changed)
        }
    }

    public func removeMember(tenant: String, group groupId: String, deviceId: String) async throws {
        try await write(tenant: tenant) { sql in
            try Self.requireStatic(try await Self.group(tenant: tenant, id: groupId, on: sql))
            guard try await sql.raw("SELECT device_id FROM group_members WHERE group_id = \(bind: groupId) AND device_id = \(bind: deviceId)").first() != nil else {
                throw PalisadeError(.notFound, code: "not_found", message: "device \(deviceId) is not a member of group \(groupId)", details: .object(["deviceId": .string(deviceId)]))
            }
            try await sql.raw("DELETE FROM group_members WHERE group_id = \(bind: groupId) AND device_id = \(bind: deviceId)").run()
            return ((), try await recompute(tenant: tenant, devices: [deviceId], on: sql))
        }
    }

    public func members(tenant: String, group groupId: String, limit: Int, after cursor: String?) async throws -> Page<Device> {
        try await read { sql in
            _ = try await Self.group(tenant: tenant, id: groupId, on: sql)
            let rows = try await sql.raw("""
                SELECT \(unsafeRaw: Self.deviceColumns.split(separator: ",").map { "d." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", "))
                FROM group_members m JOIN devices d ON d.id = m.device_id
                WHERE m.group_id = \(bind: groupId) AND d.tenant_id = \(bind: tenant) AND d.id > \(bind: cursor ?? "")
                ORDER BY d.id LIMIT \(bind: limit + 1)
                """).all()
            return Page(fetched: try rows.map(Self.device), limit: limit, id: \.id)
        }
    }

    /// Deletes a group: its members lose what it brought them, and it leaves every assignment.
    public func deleteGroup(tenant: String, id: String) async throws {
        try await write(tenant: tenant) { sql in
            _ = try await Self.group(tenant: tenant, id: id, on: sql)
            let members = try await sql.raw("SELECT device_id FROM group_members WHERE group_id = \(bind: id)").all().map { try $0.string("device_id") }
            try await sql.raw("DELETE FROM policy_assignments WHERE group_id = \(bind: id)").run()
            try await sql.raw("DELETE FROM group_members WHERE group_id = \(bind: id)").run()
            try await sql.raw("DELETE FROM device_groups WHERE id = \(bind: id)").run()
            return ((), try await recompute(tenant: tenant, devices: Set(members), on: sql))
        }
    }

    static func insertMembers(_ ids: [String], group: String, tenant: String, on sql: any SQLDatabase) async throws {
        let now = Timestamp.nowMillis()
        for id in ids {
            try await sql.raw("""
                INSERT INTO group_members (tenant_id, group_id, device_id, added_at) VALUES (\(bind: tenant), \(bind: group), \(bind: id), \(bind: now))
                ON CONFLICT (group_id, device_id) DO NOTHING
                """).run()
        }
    }

    /// Fails with every unknown id listed when some device does not exist in the tenant.
    static func requireDevices(_ ids: [String], tenant: String, field: String, on sql: any SQLDatabase) async throws {
        var found: Set<String> = []
        for chunk in ids.chunked() {
            let rows = try await sql.raw("SELECT id FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all()
            for row in rows { found.insert(try row.string("id")) }
        }
        let missing = ids.filter { !found.contains($0) }
        guard missing.isEmpty else {
            throw PalisadeError(.badRequest, code: "unknown_device", message: "\(field) names devices that do not exist: \(missing.joined(separator: ", "))",
                                details: .object(["field": .string(field), "unknown": .array(missing.map(JSONValue.string))]))
        }
    }
}

// MARK: Dynamic groups

/// What `POST /groups/preview` answers: how many devices a rule selects, and some of them.
public struct RulePreview: Codable, Sendable {
    public var count: Int
    public var sample: [Device]
}

extension PalisadeStore {
    static func parseRule(_ text: String) throws -> MembershipRule {
        do {
            return try MembershipRuleParser.parse(text)
        } catch {
            throw PalisadeError(.badRequest, code: "invalid_rule", message: "membershipRule \(error.description)",
                                details: ["field": "membershipRule", "position": .integer(Int64(error.position)), "expected": .string(error.expected), "found": .string(error.found)])
        }
    }

    static func requireStatic(_ group: DeviceGroup) throws {
        if group.membershipRule != nil {
            throw PalisadeError(.badRequest, code: "dynamic_group", message: "group \(group.id) is dynamic: its rule selects its members", details: ["groupId": .string(group.id)])
        }
    }

    func createDynamicGroup(tenant: String, name: String, description: String, rule text: String) async throws -> DeviceGroup {
        let rule = try Self.parseRule(text)
        let id = Identifier.make()
        let now = Timestamp.nowMillis()
        return try await write(tenant: tenant) { sql in
            if try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND name = \(bind: name)").first() != nil {
                throw PalisadeError(.conflict, code: "group_exists", message: "a group named \"\(name)\" already exists", details: .object(["field": "name"]))
            }
            try await sql.raw("""
                INSERT INTO device_groups (id, tenant_id, name, description, created_at, membership_rule)
                VALUES (\(bind: id), \(bind: tenant), \(bind: name), \(bind: description), \(bind: now), \(bind: text))
                """).run()
            let members = try await Self.allDevices(tenant: tenant, on: sql).filter { rule.evaluate($0.ruleAttributes) }.map(\.id)
            try await Self.insertMembers(members, group: id, tenant: tenant, on: sql)
            let changed = try await recompute(tenant: tenant, devices: Set(members), on: sql)
            return (try await Self.group(tenant: tenant, id: id, on: sql), changed)
        }
    }

    /// Evaluates a rule without saving anything.
    public func previewRule(tenant: String, rule text: String, sampleSize: Int = 10) async throws -> RulePreview {
        let rule = try Self.parseRule(text)
        return try await read { sql in
            let matching = try await Self.allDevices(tenant: tenant, on: sql).filter { rule.evaluate($0.ruleAttributes) }
            return RulePreview(count: matching.count, sample: Array(matching.prefix(sampleSize)))
        }
    }

    static func allDevices(tenant: String, on sql: any SQLDatabase) async throws -> [Device] {
        try await sql.raw("SELECT \(unsafeRaw: deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant) ORDER BY name, id").all().map(device)
    }

    /// Re-evaluates every dynamic group of the tenant for one device (its attributes changed)
    /// and updates its memberships. Membership is evaluated in the same transaction as the
    /// change, so there is no "not yet evaluated" state that could take settings away.
    static func reevaluateDynamicGroups(tenant: String, device id: String, on sql: any SQLDatabase) async throws {
        let device = try await Self.device(tenant: tenant, id: id, on: sql)
        let attributes = device.ruleAttributes
        let rules = try await sql.raw("SELECT id, membership_rule FROM device_groups WHERE tenant_id = \(bind: tenant) AND membership_rule IS NOT NULL").all()
        let current = Set(try await sql.raw("SELECT group_id FROM group_members WHERE device_id = \(bind: id)").all().map { try $0.string("group_id") })
        for row in rules {
            let groupId = try row.string("id")
            guard let rule = try? MembershipRuleParser.parse(try row.string("membership_rule")) else { continue }
            let member = rule.evaluate(attributes)
            if member && !current.contains(groupId) {
                try await insertMembers([id], group: groupId, tenant: tenant, on: sql)
            } else if !member && current.contains(groupId) {
                try await sql.raw("DELETE FROM group_members WHERE group_id = \(bind: groupId) AND device_id = \(bind: id)").run()
            }
        }
    }
}

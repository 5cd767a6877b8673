import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    public func createGroup(tenant: String, name: String, description: String, members: [String], membershipRule: String? = nil, nestedGroups: [String] = []) async throws -> DeviceGroup {
        let name = name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= 200 else {
            throw PalisadeError.invalid("name must be 1 to 200 characters", field: "name")
        }
        if let membershipRule {
            guard members.isEmpty, nestedGroups.isEmpty else {
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
            try await Self.nest(Array(Set(nestedGroups)).sorted(), in: id, tenant: tenant, on: sql)
            let affected = try await Self.expandedDevices(of: [id], tenant: tenant, on: sql)
            let changed = try await recompute(tenant: tenant, devices: affected, on: sql)
            return (try await Self.group(tenant: tenant, id: id, on: sql), changed)
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
                    nestedGroups: nil,
                    memberCount: try row.int("member_count"), createdAt: Timestamp.date(try row.millis("created_at")))
    }

    public func groups(tenant: String, limit: Int, after cursor: String?) async throws -> Page<DeviceGroup> {
        try await read { sql in
            let rows = try await sql.raw("""
                \(unsafeRaw: Self.groupSelect) WHERE g.tenant_id = \(bind: tenant) AND g.id > \(bind: cursor ?? "") ORDER BY g.id LIMIT \(bind: limit + 1)
                """).all()
            let page = Page(fetched: try rows.map(Self.group), limit: limit, id: \.id)
            return Page(items: try await Self.withNesting(page.items, on: sql), nextCursor: page.nextCursor)
        }
    }

    public func group(tenant: String, id: String) async throws -> DeviceGroup {
        try await read { sql in try await Self.group(tenant: tenant, id: id, on: sql) }
    }

    static func group(tenant: String, id: String, on sql: any SQLDatabase) async throws -> DeviceGroup {
        guard let row = try await sql.raw("\(unsafeRaw: groupSelect) WHERE g.tenant_id = \(bind: tenant) AND g.id = \(bind: id)").first() else {
            throw PalisadeError.notFound("group", id: id)
        }
        return try await withNesting([try group(row)], on: sql)[0]
    }

    public func addMembers(tenant: String, group groupId: String, deviceIds: [String], groupIds: [String] = []) async throws -> DeviceGroup {
        let ids = Array(Set(deviceIds)).sorted()
        let nested = Array(Set(groupIds)).sorted()
        guard !ids.isEmpty || !nested.isEmpty else {
            throw PalisadeError.invalid("name at least one device (deviceIds) or group (groupIds)", field: "deviceIds")
        }
        return try await write(tenant: tenant) { sql in
            try Self.requireStatic(try await Self.group(tenant: tenant, id: groupId, on: sql))
            try await Self.requireDevices(ids, tenant: tenant, field: "deviceIds", on: sql)
            try await Self.insertMembers(ids, group: groupId, tenant: tenant, on: sql)
            try await Self.nest(nested, in: groupId, tenant: tenant, on: sql)
            let affected = Set(ids).union(try await Self.expandedDevices(of: nested, tenant: tenant, on: sql))
            let changed = try await recompute(tenant: tenant, devices: affected, on: sql)
            return (try await Self.group(tenant: tenant, id: groupId, on: sql), changed)
        }
    }

    public func removeMember(tenant: String, group groupId: String, deviceId: String) async throws {
        try await write(tenant: tenant) { sql in
            try Self.requireStatic(try await Self.group(tenant: tenant, id: groupId, on: sql))
            if try await sql.raw("SELECT child_id FROM group_nesting WHERE parent_id = \(bind: groupId) AND child_id = \(bind: deviceId)").first() != nil {
                let affected = try await Self.expandedDevices(of: [deviceId], tenant: tenant, on: sql)
                try await sql.raw("DELETE FROM group_nesting WHERE parent_id = \(bind: groupId) AND child_id = \(bind: deviceId)").run()
                return ((), try await recompute(tenant: tenant, devices: affected, on: sql))
            }
            guard try await sql.raw("SELECT device_id FROM group_members WHERE group_id = \(bind: groupId) AND device_id = \(bind: deviceId)").first() != nil else {
                throw PalisadeError(.notFound, code: "not_found", message: "\(deviceId) is neither a device nor a group in group \(groupId)", details: .object(["memberId": .string(deviceId)]))
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
            let members = try await Self.expandedDevices(of: [id], tenant: tenant, on: sql)
            try await sql.raw("DELETE FROM group_nesting WHERE parent_id = \(bind: id) OR child_id = \(bind: id)").run()
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

// MARK: Nested groups

extension PalisadeStore {
    /// child -> parents, for the whole tenant (group counts are small next to device counts).
    static func parentsByChild(tenant: String, on sql: any SQLDatabase) async throws -> [String: Set<String>] {
        var parents: [String: Set<String>] = [:]
        for row in try await sql.raw("SELECT parent_id, child_id FROM group_nesting WHERE tenant_id = \(bind: tenant)").all() {
            parents[try row.string("child_id"), default: []].insert(try row.string("parent_id"))
        }
        return parents
    }

    /// The groups and every group that contains one of them, transitively.
    static func withAncestors(_ groups: Set<String>, parents: [String: Set<String>]) -> Set<String> {
        var result: Set<String> = []
        var stack = Array(groups)
        while let group = stack.popLast() {
            guard result.insert(group).inserted else { continue }
            stack.append(contentsOf: parents[group] ?? [])
        }
        return result
    }

    /// Devices in the groups, directly or through nested groups.
    static func expandedDevices(of groups: [String], tenant: String, on sql: any SQLDatabase) async throws -> Set<String> {
        var children: [String: [String]] = [:]
        for row in try await sql.raw("SELECT parent_id, child_id FROM group_nesting WHERE tenant_id = \(bind: tenant)").all() {
            children[try row.string("parent_id"), default: []].append(try row.string("child_id"))
        }
        var all: Set<String> = []
        var stack = groups
        while let group = stack.popLast() {
            guard all.insert(group).inserted else { continue }
            stack.append(contentsOf: children[group] ?? [])
        }
        var devices: Set<String> = []
        for chunk in all.sorted().chunked() {
            for row in try await sql.raw("SELECT device_id FROM group_members WHERE group_id IN (\(binds: chunk))").all() {
                devices.insert(try row.string("device_id"))
            }
        }
        return devices
    }

    /// Nests `children` in `parent`, refusing unknown groups and cycles.
    static func nest(_ children: [String], in parent: String, tenant: String, on sql: any SQLDatabase) async throws {
        guard !children.isEmpty else { return }
        var found: Set<String> = []
        for chunk in children.chunked() {
            for row in try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all() {
                found.insert(try row.string("id"))
            }
        }
        let missing = children.filter { !found.contains($0) }
        guard missing.isEmpty else {
            throw PalisadeError(.badRequest, code: "unknown_group", message: "groupIds names groups that do not exist: \(missing.joined(separator: ", "))",
                                details: ["unknown": .array(missing.map(JSONValue.string))])
        }
        var parents = try await parentsByChild(tenant: tenant, on: sql)
        for child in children {
            // A cycle if the parent is the child or is already (transitively) inside it.
            if child == parent || withAncestors([parent], parents: parents).contains(child) {
                throw PalisadeError(.badRequest, code: "group_cycle", message: "nesting group \(child) in \(parent) would make a cycle: \(parent) is already inside \(child)",
                                    details: ["parentId": .string(parent), "childId": .string(child)])
            }
            try await sql.raw("""
                INSERT INTO group_nesting (tenant_id, parent_id, child_id) VALUES (\(bind: tenant), \(bind: parent), \(bind: child))
                ON CONFLICT (parent_id, child_id) DO NOTHING
                """).run()
            parents[child, default: []].insert(parent)
        }
    }

    static func withNesting(_ groups: [DeviceGroup], on sql: any SQLDatabase) async throws -> [DeviceGroup] {
        guard !groups.isEmpty else { return groups }
        var children: [String: [String]] = [:]
        for chunk in groups.map(\.id).chunked() {
            for row in try await sql.raw("SELECT parent_id, child_id FROM group_nesting WHERE parent_id IN (\(binds: chunk))").all() {
                children[try row.string("parent_id"), default: []].append(try row.string("child_id"))
            }
        }
        return groups.map { group in
            var group = group
            group.nestedGroups = group.membershipRule == nil ? (children[group.id] ?? []).sorted() : nil
            return group
        }
    }
}

extension PalisadeStore {
    /// Renames a group, changes its description, or (dynamic groups) its rule. A rule change
    /// re-evaluates that group only and recomputes only the devices that enter or leave it.
    public func updateGroup(tenant: String, id: String, name: String?, description: String?, membershipRule: String?) async throws -> DeviceGroup {
        let rule = try membershipRule.map(Self.parseRule)
        if let name, name.trimmingCharacters(in: .whitespaces).isEmpty || name.count > 200 {
            throw PalisadeError.invalid("name must be 1 to 200 characters", field: "name")
        }
        return try await write(tenant: tenant) { sql in
            let group = try await Self.group(tenant: tenant, id: id, on: sql)
            if let name = name?.trimmingCharacters(in: .whitespaces), name != group.name {
                if try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND name = \(bind: name)").first() != nil {
                    throw PalisadeError(.conflict, code: "group_exists", message: "a group named \"\(name)\" already exists", details: .object(["field": "name"]))
                }
                try await sql.raw("UPDATE device_groups SET name = \(bind: name) WHERE id = \(bind: id)").run()
            }
            if let description {
                try await sql.raw("UPDATE device_groups SET description = \(bind: description) WHERE id = \(bind: id)").run()
            }
            guard let rule, let text = membershipRule else { return (try await Self.group(tenant: tenant, id: id, on: sql), []) }
            guard group.membershipRule != nil else {
                throw PalisadeError(.badRequest, code: "static_group", message: "group \(id) is static: it has members, not a rule", details: ["groupId": .string(id)])
            }
            try await sql.raw("UPDATE device_groups SET membership_rule = \(bind: text) WHERE id = \(bind: id)").run()
            let before = Set(try await sql.raw("SELECT device_id FROM group_members WHERE group_id = \(bind: id)").all().map { try $0.string("device_id") })
            let after = Set(try await Self.allDevices(tenant: tenant, on: sql).filter { rule.evaluate($0.ruleAttributes) }.map(\.id))
            for device in before.subtracting(after) {
                try await sql.raw("DELETE FROM group_members WHERE group_id = \(bind: id) AND device_id = \(bind: device)").run()
            }
            try await Self.insertMembers(after.subtracting(before).sorted(), group: id, tenant: tenant, on: sql)
            // Only devices that entered or left can change, also through groups nesting this one.
            let changed = try await recompute(tenant: tenant, devices: before.symmetricDifference(after), on: sql)
            return (try await Self.group(tenant: tenant, id: id, on: sql), changed)
        }
    }
}

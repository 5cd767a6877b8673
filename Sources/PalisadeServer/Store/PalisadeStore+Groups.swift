import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    public func createGroup(tenant: String, by actor: AuditActor, name: String, description: String, members: [String], membershipRule: String? = nil, nestedGroups: [String] = []) async throws -> DeviceGroup {
        let name = try InputRules.name(name)
        if let membershipRule {
            guard members.isEmpty, nestedGroups.isEmpty else {
                throw DomainError.invalid("a dynamic group takes no members: its rule selects them", field: "members")
            }
            return try await createDynamicGroup(tenant: tenant, by: actor, name: name, description: description, rule: membershipRule)
        }
        let id = Identifier.make()
        let now = clock.nowMillis
        let memberIds = Array(Set(members)).sorted()
        try await writeDirectory(tenant: tenant) { sql, directory in
            try await Self.requireUniqueGroupName(name, tenant: tenant, on: sql)
            try await Self.requireDevices(memberIds, tenant: tenant, field: "members", on: sql)
            try await sql.raw("""
                INSERT INTO device_groups (id, tenant_id, name, description, created_at)
                VALUES (\(bind: id), \(bind: tenant), \(bind: name), \(bind: description), \(bind: now))
                """).run()
            try await Self.insertMembers(memberIds, group: id, tenant: tenant, at: now, on: sql)
            try await Self.nest(Array(Set(nestedGroups)).sorted(), in: id, directory: directory, on: sql)
            directory.groupChanged(id)
            let created = try await Self.group(tenant: tenant, id: id, on: sql)
            struct Created: Encodable, Sendable { var group: DeviceGroup; var members: [String] }
            try await Self.audit(.groupCreate, by: actor, tenant: tenant, target: ("group", id, name), new: Created(group: created, members: memberIds), at: now, on: sql)
        }
        return try await group(tenant: tenant, id: id)
    }

    static let groupSelect = "SELECT g.id, g.name, g.description, g.created_at, g.membership_rule FROM device_groups g"

    /// A group row; its member count comes from the directory engine (`withMemberCounts`).
    static func group(_ row: any SQLRow) throws -> DeviceGroup {
        DeviceGroup(id: try row.string("id"), name: try row.string("name"), description: try row.string("description"),
                    membershipRule: try row.optionalString("membership_rule"),
                    nestedGroups: nil,
                    memberCount: 0, createdAt: Timestamp.date(try row.millis("created_at")))
    }

    public func groups(tenant: String, limit: Int, after cursor: String?) async throws -> Page<DeviceGroup> {
        try await readDirectory(tenant: tenant) { index in
            try await readSnapshot { sql in
                let rows = try await sql.raw("""
                    \(unsafeRaw: Self.groupSelect) WHERE g.tenant_id = \(bind: tenant) AND g.id > \(bind: cursor ?? "") ORDER BY g.id LIMIT \(bind: limit + 1)
                    """).all()
                let page = Page(fetched: try rows.map(Self.group), limit: limit, id: \.id)
                return Page(items: Self.withMemberCounts(try await Self.withNesting(page.items, on: sql), index), nextCursor: page.nextCursor)
            }
        }
    }

    public func group(tenant: String, id: String) async throws -> DeviceGroup {
        try await readDirectory(tenant: tenant) { index in
            try await readSnapshot { sql in Self.withMemberCounts([try await Self.group(tenant: tenant, id: id, on: sql)], index)[0] }
        }
    }

    /// Member counts are the group's own members: listed devices, or those its rule selects.
    static func withMemberCounts(_ groups: [DeviceGroup], _ index: DirectoryIndex) -> [DeviceGroup] {
        groups.map { group in
            var group = group
            group.memberCount = index.directMemberCount(of: group.id)
            return group
        }
    }

    /// The group as stored, without its member count: for checks inside write transactions.
    static func group(tenant: String, id: String, on sql: any SQLDatabase) async throws -> DeviceGroup {
        guard let row = try await sql.raw("\(unsafeRaw: groupSelect) WHERE g.tenant_id = \(bind: tenant) AND g.id = \(bind: id)").first() else {
            throw DomainError.notFound("group", id: id)
        }
        return try await withNesting([try group(row)], on: sql)[0]
    }

    public func addMembers(tenant: String, by actor: AuditActor, group groupId: String, deviceIds: [String], groupIds: [String] = []) async throws -> DeviceGroup {
        let ids = Array(Set(deviceIds)).sorted()
        let nested = Array(Set(groupIds)).sorted()
        guard !ids.isEmpty || !nested.isEmpty else {
            throw DomainError.invalid("name at least one device (deviceIds) or group (groupIds)", field: "deviceIds")
        }
        let now = clock.nowMillis
        try await writeDirectory(tenant: tenant) { sql, directory in
            let group = try await Self.group(tenant: tenant, id: groupId, on: sql)
            try Self.requireStatic(group)
            try await Self.requireDevices(ids, tenant: tenant, field: "deviceIds", on: sql)
            try await Self.insertMembers(ids, group: groupId, tenant: tenant, at: now, on: sql)
            try await Self.nest(nested, in: groupId, directory: directory, on: sql)
            directory.groupChanged(groupId)
            try await Self.audit(.groupAddMembers, by: actor, tenant: tenant, target: ("group", groupId, group.name),
                                 old: ["nestedGroups": group.nestedGroups ?? []], new: ["deviceIds": ids, "groupIds": nested], at: now, on: sql)
        }
        return try await group(tenant: tenant, id: groupId)
    }

    public func removeMember(tenant: String, by actor: AuditActor, group groupId: String, deviceId: String) async throws {
        let now = clock.nowMillis
        try await writeDirectory(tenant: tenant) { sql, directory in
            let group = try await Self.group(tenant: tenant, id: groupId, on: sql)
            try Self.requireStatic(group)
            directory.groupChanged(groupId)
            if try await sql.raw("SELECT child_id FROM group_nesting WHERE parent_id = \(bind: groupId) AND child_id = \(bind: deviceId)").first() != nil {
                try await sql.raw("DELETE FROM group_nesting WHERE parent_id = \(bind: groupId) AND child_id = \(bind: deviceId)").run()
                try await Self.audit(.groupRemoveMember, by: actor, tenant: tenant, target: ("group", groupId, group.name),
                                     old: ["groupId": deviceId], at: now, on: sql)
                return
            }
            guard try await sql.raw("SELECT device_id FROM group_members WHERE group_id = \(bind: groupId) AND device_id = \(bind: deviceId)").first() != nil else {
                throw DomainError(.notFound, code: .notFound, message: "\(deviceId) is neither a device nor a group in group \(groupId)", details: .object(["memberId": .string(deviceId)]))
            }
            try await sql.raw("DELETE FROM group_members WHERE group_id = \(bind: groupId) AND device_id = \(bind: deviceId)").run()
            try await Self.audit(.groupRemoveMember, by: actor, tenant: tenant, target: ("group", groupId, group.name),
                                 old: ["deviceId": deviceId], at: now, on: sql)
        }
    }

    /// The group's own members (listed, or selected by its rule), by id.
    public func members(tenant: String, group groupId: String, limit: Int, after cursor: String?) async throws -> Page<Device> {
        try await readDirectory(tenant: tenant) { index in
            try await readSnapshot { sql in
                _ = try await Self.group(tenant: tenant, id: groupId, on: sql)
                let ids = index.directMembers(of: groupId).filter { $0 > cursor ?? "" }.prefix(limit + 1)
                guard !ids.isEmpty else { return Page(items: [], nextCursor: nil) }
                let rows = try await sql.raw("""
                    SELECT \(unsafeRaw: Self.deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: Array(ids))) ORDER BY id
                    """).all()
                return Page(fetched: try rows.map(Self.device), limit: limit, id: \.id)
            }
        }
    }

    /// Deletes a group: its members lose what it brought them, and it leaves every assignment.
    public func deleteGroup(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = clock.nowMillis
        try await writeDirectory(tenant: tenant) { sql, directory in
            let old = try await Self.group(tenant: tenant, id: id, on: sql)
            try await Self.audit(.groupDelete, by: actor, tenant: tenant, target: ("group", id, old.name), old: old, at: now, on: sql)
            try await sql.raw("DELETE FROM group_nesting WHERE parent_id = \(bind: id) OR child_id = \(bind: id)").run()
            try await sql.raw("DELETE FROM policy_assignments WHERE group_id = \(bind: id)").run()
            try await sql.raw("DELETE FROM group_members WHERE group_id = \(bind: id)").run()
            try await sql.raw("DELETE FROM device_groups WHERE id = \(bind: id)").run()
            directory.groupChanged(id)
        }
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

    static func requireUniqueGroupName(_ name: String, tenant: String, on sql: any SQLDatabase) async throws {
        if try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND name = \(bind: name)").first() != nil {
            throw DomainError.groupExists(name)
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
            throw DomainError(.invalidInput, code: .unknownDevice, message: "\(field) names devices that do not exist: \(missing.joined(separator: ", "))",
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
            throw DomainError(.invalidInput, code: .invalidRule, message: "membershipRule \(error.description)",
                                details: ["field": "membershipRule", "position": .integer(Int64(error.position)), "expected": .string(error.expected), "found": .string(error.found)])
        }
    }

    static func requireStatic(_ group: DeviceGroup) throws {
        if group.membershipRule != nil {
            throw DomainError(.invalidInput, code: .dynamicGroup, message: "group \(group.id) is dynamic: its rule selects its members", details: ["groupId": .string(group.id)])
        }
    }

    func createDynamicGroup(tenant: String, by actor: AuditActor, name: String, description: String, rule text: String) async throws -> DeviceGroup {
        _ = try Self.parseRule(text)
        let id = Identifier.make()
        let now = clock.nowMillis
        try await writeDirectory(tenant: tenant) { sql, directory in
            try await Self.requireUniqueGroupName(name, tenant: tenant, on: sql)
            try await sql.raw("""
                INSERT INTO device_groups (id, tenant_id, name, description, created_at, membership_rule)
                VALUES (\(bind: id), \(bind: tenant), \(bind: name), \(bind: description), \(bind: now), \(bind: text))
                """).run()
            // The directory engine evaluates the rule; its members live there, not in group_members.
            directory.groupChanged(id)
            try await Self.audit(.groupCreate, by: actor, tenant: tenant, target: ("group", id, name),
                                 new: try await Self.group(tenant: tenant, id: id, on: sql), at: now, on: sql)
        }
        return try await group(tenant: tenant, id: id)
    }

    /// Evaluates a rule without saving anything.
    public func previewRule(tenant: String, rule text: String, sampleSize: Int = 10) async throws -> RulePreview {
        let rule = try Self.parseRule(text)
        return try await readDirectory(tenant: tenant) { index in
            let matching = index.devices(matching: rule)
            guard !matching.isEmpty else { return RulePreview(count: 0, sample: []) }
            // The first devices by name, as a device list shows them.
            let first = matching.map { ($0, index.devices[$0]?.attributes.name ?? "") }
                .sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(sampleSize).map(\.0)
            let sample = try await read { sql in try await sql.raw("""
                SELECT \(unsafeRaw: Self.deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: first))
                ORDER BY name, id
                """).all().map(Self.device) }
            return RulePreview(count: matching.count, sample: sample)
        }
    }
}

// MARK: Nested groups

extension PalisadeStore {
    /// Nests `children` in `parent`, refusing unknown groups and cycles (checked on the
    /// directory engine, which the caller's transaction has brought up to date).
    static func nest(_ children: [String], in parent: String, directory: DirectoryEdit, on sql: any SQLDatabase) async throws {
        guard !children.isEmpty else { return }
        let missing = children.filter { directory.index.groups[$0] == nil }
        guard missing.isEmpty else { throw DomainError.unknownGroups(missing, field: "groupIds") }
        if case .cycle(let path)? = directory.index.nestingProblem(Set(children), in: parent) {
            throw DomainError(.invalidInput, code: .groupCycle, message: "nesting would make a cycle: \(path.joined(separator: " contains "))",
                                details: ["parentId": .string(parent), "childId": .string(path[1]), "path": .array(path.map(JSONValue.string))])
        }
        try await sql.raw(SQLQueryString.insert(
            "INSERT INTO group_nesting (tenant_id, parent_id, child_id) VALUES ",
            rows: children.map { "(\(bind: directory.tenant), \(bind: parent), \(bind: $0))" },
            suffix: " ON CONFLICT (parent_id, child_id) DO NOTHING")).run()
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
    public func updateGroup(tenant: String, by actor: AuditActor, id: String, name: String?, description: String?, membershipRule: String?) async throws -> DeviceGroup {
        if let membershipRule { _ = try Self.parseRule(membershipRule) }
        let name = try name.map { try InputRules.name($0) }
        let now = clock.nowMillis
        try await writeDirectory(tenant: tenant) { sql, directory in
            let group = try await Self.group(tenant: tenant, id: id, on: sql)
            if membershipRule != nil, group.membershipRule == nil {
                throw DomainError(.invalidInput, code: .staticGroup, message: "group \(id) is static: it has members, not a rule", details: ["groupId": .string(id)])
            }
            if let name, name != group.name {
                try await Self.requireUniqueGroupName(name, tenant: tenant, on: sql)
                try await sql.raw("UPDATE device_groups SET name = \(bind: name) WHERE id = \(bind: id)").run()
            }
            if let description {
                try await sql.raw("UPDATE device_groups SET description = \(bind: description) WHERE id = \(bind: id)").run()
            }
            if let text = membershipRule {
                try await sql.raw("UPDATE device_groups SET membership_rule = \(bind: text) WHERE id = \(bind: id)").run()
                // The engine re-evaluates this group only; only devices that enter or leave it
                // (also through groups nesting it) are recomputed.
                directory.groupChanged(id)
            }
            try await Self.audit(.groupUpdate, by: actor, tenant: tenant, target: ("group", id, name ?? group.name),
                                 old: group, new: try await Self.group(tenant: tenant, id: id, on: sql), at: now, on: sql)
        }
        return try await group(tenant: tenant, id: id)
    }
}

extension PalisadeStore {
    /// The groups a device belongs to: listed in, selected by a rule, or through nesting.
    public func groupsOfDevice(tenant: String, device id: String) async throws -> [DeviceGroup] {
        try await readDirectory(tenant: tenant) { index in
            let ids = index.groups(of: id)
            guard !ids.isEmpty else { return [] }
            return try await readSnapshot { sql in
                var groups: [DeviceGroup] = []
                for groupId in ids.sorted() {
                    if let row = try await sql.raw("\(unsafeRaw: Self.groupSelect) WHERE g.tenant_id = \(bind: tenant) AND g.id = \(bind: groupId)").first() {
                        groups.append(try Self.group(row))
                    }
                }
                return Self.withMemberCounts(groups, index).sorted { $0.name.localizedCaseInsensitiveCompare($1.name) == .orderedAscending }
            }
        }
    }
}

import Foundation
import PalisadeCore
import SQLKit

/// What `POST /groups/preview` answers: how many devices a rule selects, and some of them.
public struct RulePreview: Codable, Sendable {
    public var count: Int
    public var sample: [Device]
}

/// Groups (static, nested and dynamic): the one place their rules live, for the REST
/// controller, the admin pages and the coming apply endpoint. Each change is checked here,
/// written through the tenant's directory (members recomputed and woken) and audited in the
/// same transaction.
public struct GroupService: Sendable {
    let store: PalisadeStore

    public init(store: PalisadeStore) {
        self.store = store
    }

    // MARK: Rules

    static func parseRule(_ text: String) throws -> MembershipRule {
        do {
            return try MembershipRuleParser.parse(text)
        } catch {
            throw DomainError(.invalidInput, code: .invalidRule, message: "membershipRule \(error.description)",
                              details: ["field": "membershipRule", "position": .integer(Int64(error.position)), "expected": .string(error.expected), "found": .string(error.found)])
        }
    }

    /// Members are listed only in static groups: a dynamic group's rule selects them.
    static func requireStatic(_ group: DeviceGroup) throws {
        if group.membershipRule != nil {
            throw DomainError(.invalidInput, code: .dynamicGroup, message: "group \(group.id) is dynamic: its rule selects its members", details: ["groupId": .string(group.id)])
        }
    }

    static func requireUniqueName(_ name: String, tenant: String, on sql: any SQLDatabase) async throws {
        if try await GroupRepository.nameIsTaken(name, tenant: tenant, on: sql) { throw DomainError.groupExists(name) }
    }

    /// Fails with every unknown id listed when some device does not exist in the tenant.
    static func requireDevices(_ ids: [String], tenant: String, field: String, on sql: any SQLDatabase) async throws {
        let found = try await GroupRepository.existingDevices(ids, tenant: tenant, on: sql)
        let missing = ids.filter { !found.contains($0) }
        guard missing.isEmpty else {
            throw DomainError(.invalidInput, code: .unknownDevice, message: "\(field) names devices that do not exist: \(missing.joined(separator: ", "))",
                              details: .object(["field": .string(field), "unknown": .array(missing.map(JSONValue.string))]))
        }
    }

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
        try await GroupRepository.insertNesting(children, in: parent, tenant: directory.tenant, on: sql)
    }

    // MARK: Reads

    public func groups(tenant: String, limit: Int, after cursor: String?) async throws -> Page<DeviceGroup> {
        try await store.directory.read(tenant: tenant) { index in
            try await store.readSnapshot { sql in
                let page = try await GroupRepository.page(tenant: tenant, limit: limit, after: cursor, on: sql)
                return Page(items: GroupRepository.withMemberCounts(page.items, index), nextCursor: page.nextCursor)
            }
        }
    }

    public func group(tenant: String, id: String) async throws -> DeviceGroup {
        try await store.directory.read(tenant: tenant) { index in
            try await store.readSnapshot { sql in GroupRepository.withMemberCounts([try await GroupRepository.group(tenant: tenant, id: id, on: sql)], index)[0] }
        }
    }

    /// The group's own members (listed, or selected by its rule), by id.
    public func members(tenant: String, group groupId: String, limit: Int, after cursor: String?) async throws -> Page<Device> {
        try await store.directory.read(tenant: tenant) { index in
            try await store.readSnapshot { sql in
                _ = try await GroupRepository.group(tenant: tenant, id: groupId, on: sql)
                let ids = index.directMembers(of: groupId).filter { $0 > cursor ?? "" }.prefix(limit + 1)
                return Page(fetched: try await GroupRepository.devices(Array(ids), tenant: tenant, on: sql), limit: limit, id: \.id)
            }
        }
    }

    /// The groups a device belongs to: listed in, selected by a rule, or through nesting.
    public func groupsOfDevice(tenant: String, device id: String) async throws -> [DeviceGroup] {
        try await store.directory.read(tenant: tenant) { index in
            let ids = index.groups(of: id)
            guard !ids.isEmpty else { return [] }
            return try await store.readSnapshot { sql in
                let groups = try await GroupRepository.groups(Array(ids).sorted(), tenant: tenant, on: sql)
                return GroupRepository.withMemberCounts(groups, index).sorted { $0.name.localizedCaseInsensitiveCompare($1.name) == .orderedAscending }
            }
        }
    }

    /// Evaluates a rule without saving anything.
    public func previewRule(tenant: String, rule text: String, sampleSize: Int = 10) async throws -> RulePreview {
        let rule = try Self.parseRule(text)
        return try await store.directory.read(tenant: tenant) { index in
            let matching = index.devices(matching: rule)
            guard !matching.isEmpty else { return RulePreview(count: 0, sample: []) }
            // The first devices by name, as a device list shows them.
            let first = matching.map { ($0, index.devices[$0]?.attributes.name ?? "") }
                .sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(sampleSize).map(\.0)
            let sample = try await store.read { sql in try await GroupRepository.devices(first, tenant: tenant, orderBy: "name, id", on: sql) }
            return RulePreview(count: matching.count, sample: sample)
        }
    }

    // MARK: Changes

    /// A static group (listed devices, nested groups) or, with a rule, a dynamic one.
    public func create(tenant: String, by actor: AuditActor, name: String, description: String, members: [String], membershipRule: String? = nil,
                       nestedGroups: [String] = []) async throws -> DeviceGroup {
        let name = try InputRules.name(name)
        if let membershipRule {
            guard members.isEmpty, nestedGroups.isEmpty else {
                throw DomainError.invalid("a dynamic group takes no members: its rule selects them", field: "members")
            }
            _ = try Self.parseRule(membershipRule)
        }
        let id = Identifier.make()
        let now = store.clock.nowMillis
        let memberIds = Array(Set(members)).sorted()
        try await store.directory.write(tenant: tenant) { sql, directory in
            try await Self.requireUniqueName(name, tenant: tenant, on: sql)
            try await Self.requireDevices(memberIds, tenant: tenant, field: "members", on: sql)
            try await GroupRepository.insert(id: id, tenant: tenant, name: name, description: description, membershipRule: membershipRule, at: now, on: sql)
            try await GroupRepository.insertMembers(memberIds, group: id, tenant: tenant, at: now, on: sql)
            try await Self.nest(Array(Set(nestedGroups)).sorted(), in: id, directory: directory, on: sql)
            // The directory engine evaluates a rule; a dynamic group's members live there.
            directory.groupChanged(id)
            let created = try await GroupRepository.group(tenant: tenant, id: id, on: sql)
            if membershipRule == nil {
                struct Created: Encodable, Sendable { var group: DeviceGroup; var members: [String] }
                try await PalisadeStore.audit(.groupCreate, by: actor, tenant: tenant, target: ("group", id, name), new: Created(group: created, members: memberIds), at: now, on: sql)
            } else {
                try await PalisadeStore.audit(.groupCreate, by: actor, tenant: tenant, target: ("group", id, name), new: created, at: now, on: sql)
            }
        }
        return try await group(tenant: tenant, id: id)
    }

    /// Renames a group, changes its description, or (dynamic groups) its rule. A rule change
    /// re-evaluates that group only and recomputes only the devices that enter or leave it.
    public func update(tenant: String, by actor: AuditActor, id: String, name: String?, description: String?, membershipRule: String?) async throws -> DeviceGroup {
        if let membershipRule { _ = try Self.parseRule(membershipRule) }
        let name = try name.map { try InputRules.name($0) }
        let now = store.clock.nowMillis
        try await store.directory.write(tenant: tenant) { sql, directory in
            let group = try await GroupRepository.group(tenant: tenant, id: id, on: sql)
            if membershipRule != nil, group.membershipRule == nil {
                throw DomainError(.invalidInput, code: .staticGroup, message: "group \(id) is static: it has members, not a rule", details: ["groupId": .string(id)])
            }
            let rename = name.flatMap { $0 == group.name ? nil : $0 }
            if let rename { try await Self.requireUniqueName(rename, tenant: tenant, on: sql) }
            try await GroupRepository.update(id: id, tenant: tenant, name: rename, description: description, membershipRule: membershipRule, on: sql)
            // The engine re-evaluates this group only; only devices that enter or leave it
            // (also through groups nesting it) are recomputed.
            if membershipRule != nil { directory.groupChanged(id) }
            try await PalisadeStore.audit(.groupUpdate, by: actor, tenant: tenant, target: ("group", id, name ?? group.name),
                                          old: group, new: try await GroupRepository.group(tenant: tenant, id: id, on: sql), at: now, on: sql)
        }
        return try await group(tenant: tenant, id: id)
    }

    /// Deletes a group: its members lose what it brought them, and it leaves every assignment.
    public func delete(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = store.clock.nowMillis
        try await store.directory.write(tenant: tenant) { sql, directory in
            let old = try await GroupRepository.group(tenant: tenant, id: id, on: sql)
            try await PalisadeStore.audit(.groupDelete, by: actor, tenant: tenant, target: ("group", id, old.name), old: old, at: now, on: sql)
            try await GroupRepository.delete(id: id, tenant: tenant, on: sql)
            directory.groupChanged(id)
        }
    }

    public func addMembers(tenant: String, by actor: AuditActor, group groupId: String, deviceIds: [String], groupIds: [String] = []) async throws -> DeviceGroup {
        let ids = Array(Set(deviceIds)).sorted()
        let nested = Array(Set(groupIds)).sorted()
        guard !ids.isEmpty || !nested.isEmpty else {
            throw DomainError.invalid("name at least one device (deviceIds) or group (groupIds)", field: "deviceIds")
        }
        let now = store.clock.nowMillis
        try await store.directory.write(tenant: tenant) { sql, directory in
            let group = try await GroupRepository.group(tenant: tenant, id: groupId, on: sql)
            try Self.requireStatic(group)
            try await Self.requireDevices(ids, tenant: tenant, field: "deviceIds", on: sql)
            try await GroupRepository.insertMembers(ids, group: groupId, tenant: tenant, at: now, on: sql)
            try await Self.nest(nested, in: groupId, directory: directory, on: sql)
            directory.groupChanged(groupId)
            try await PalisadeStore.audit(.groupAddMembers, by: actor, tenant: tenant, target: ("group", groupId, group.name),
                                          old: ["nestedGroups": group.nestedGroups ?? []], new: ["deviceIds": ids, "groupIds": nested], at: now, on: sql)
        }
        return try await group(tenant: tenant, id: groupId)
    }

    /// Removes a listed device or a nested group.
    public func removeMember(tenant: String, by actor: AuditActor, group groupId: String, deviceId memberId: String) async throws {
        let now = store.clock.nowMillis
        try await store.directory.write(tenant: tenant) { sql, directory in
            let group = try await GroupRepository.group(tenant: tenant, id: groupId, on: sql)
            try Self.requireStatic(group)
            directory.groupChanged(groupId)
            let outcome = try await GroupRepository.removeMember(memberId, from: groupId, tenant: tenant, on: sql)
            guard outcome.removed else {
                throw DomainError(.notFound, code: .notFound, message: "\(memberId) is neither a device nor a group in group \(groupId)", details: .object(["memberId": .string(memberId)]))
            }
            let removed = outcome.wasGroup ? "groupId" : "deviceId"
            try await PalisadeStore.audit(.groupRemoveMember, by: actor, tenant: tenant, target: ("group", groupId, group.name),
                                          old: [removed: memberId], at: now, on: sql)
        }
    }
}

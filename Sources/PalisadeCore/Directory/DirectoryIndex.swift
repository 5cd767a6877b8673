/// The directory of one tenant in memory: devices, static (possibly nested) and dynamic groups,
/// and assigned policies, with memberships kept current incrementally. Every change returns the
/// devices whose effective configuration may have changed, so callers recompute only those.
/// Pure: no I/O.
public struct DirectoryIndex: Sendable {
    public struct Device: Sendable, Hashable {
        public var id: String
        public var platform: DevicePlatform
        public var attributes: DeviceAttributes
        public var managedBy: ManagementChannel
        /// Retired by an admin: keeps its memberships (re-enrolling restores them) but receives nothing.
        public var isRetired: Bool

        public init(id: String, platform: DevicePlatform, attributes: DeviceAttributes, managedBy: ManagementChannel = .palisade, isRetired: Bool = false) {
            self.id = id
            self.platform = platform
            self.attributes = attributes
            self.managedBy = managedBy
            self.isRetired = isRetired
        }
    }

    public enum Group: Sendable, Hashable {
        /// Explicit devices, and groups whose members belong to this one too.
        case members(devices: Set<String>, groups: Set<String>)
        case dynamic(MembershipRule)
    }

    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case unknownGroup(String)
        case cycle([String])

        public var description: String {
            switch self {
            case .unknownGroup(let id): "group \(id) does not exist"
            case .cycle(let path): "nesting would create a cycle: " + path.joined(separator: " -> ")
            }
        }
    }

    public let resolver: EffectiveConfigurationResolver
    public private(set) var scope: EnforcementScope
    public private(set) var devices: [String: Device] = [:]
    public private(set) var groups: [String: Group] = [:]
    /// Lowercased attributes, so that rule evaluation does not allocate.
    private var normalized: [String: DeviceAttributes] = [:]
    /// Dense slots for devices, and per attribute value the slots that have it: a rule over the
    /// whole tenant is evaluated as set operations on these postings.
    private var slotOfDevice: [String: Int] = [:]
    private var deviceOfSlot: [String?] = []
    private var liveSlots = DeviceBitset(capacity: 0)
    private var postings: [DeviceAttribute: [String: Set<Int>]] = [:]
    /// Devices (as slots) that are direct members, static or by rule, of each group.
    private var directMembers: [String: DeviceBitset] = [:]
    /// Static groups that contain each group.
    private var parents: [String: Set<String>] = [:]
    private var policies: [String: AssignedPolicy] = [:]
    /// False while `load` builds the index: nothing to report as affected then.
    private var reportsAffected = true
    private var policiesByGroup: [String: Set<String>] = [:]

    public init(catalog: SettingCatalog = .standard, scope: EnforcementScope = .everything) {
        self.resolver = EffectiveConfigurationResolver(catalog: catalog)
        self.scope = scope
    }

    // MARK: Devices

    /// Adds or updates a device and re-evaluates only the dynamic groups whose rules read an
    /// attribute that changed. Returns the devices to recompute (this one, or none).
    @discardableResult
    public mutating func upsert(_ device: Device) -> Set<String> {
        let previous = devices[device.id]
        devices[device.id] = device
        let lowered = Self.lowercased(device.attributes)
        let slot: Int
        if let existing = slotOfDevice[device.id] {
            slot = existing
        } else {
            slot = deviceOfSlot.count
            deviceOfSlot.append(device.id)
            slotOfDevice[device.id] = slot
            liveSlots.insert(slot)
            // A static group may list the device before it (re)appears.
            for (groupId, group) in groups {
                if case .members(let members, _) = group, members.contains(device.id) { setDirectMembership(slot, of: groupId, to: true) }
            }
        }
        if let old = normalized[device.id] { unpost(old, slot: slot) }
        post(lowered, slot: slot)
        normalized[device.id] = lowered
        var changedAttributes = Set(DeviceAttribute.allCases)
        if let previous {
            let before = Self.lowercased(previous.attributes)
            changedAttributes = changedAttributes.filter { before.values(of: $0) != lowered.values(of: $0) }
            if changedAttributes.isEmpty && previous.platform == device.platform && previous.managedBy == device.managedBy
                && previous.isRetired == device.isRetired { return [] }
        }
        for (groupId, group) in groups {
            guard case .dynamic(let rule) = group, !rule.attributes.isDisjoint(with: changedAttributes) else { continue }
            setDirectMembership(slot, of: groupId, to: rule.evaluate(normalized: lowered))
        }
        return [device.id]
    }

    public mutating func remove(device id: String) {
        if let slot = slotOfDevice[id] {
            for group in directMembers.keys { directMembers[group]?.remove(slot) }
        }
        for (groupId, group) in groups {
            if case .members(var members, let nested) = group, members.remove(id) != nil {
                groups[groupId] = .members(devices: members, groups: nested)
            }
        }
        devices[id] = nil
        if let slot = slotOfDevice.removeValue(forKey: id) {
            if let old = normalized[id] { unpost(old, slot: slot) }
            deviceOfSlot[slot] = nil
            liveSlots.remove(slot)
        }
        normalized[id] = nil
    }

    // MARK: Groups

    /// Creates or replaces a group. A rule is evaluated against every device once; a static
    /// group's nested groups must exist and must not form a cycle. Returns the devices whose
    /// group memberships changed (directly or through nesting).
    @discardableResult
    public mutating func setGroup(_ id: String, _ group: Group) throws(Problem) -> Set<String> {
        if case .members(_, let nested) = group {
            for child in nested where groups[child] == nil && child != id { throw .unknownGroup(child) }
            if let cycle = cycle(adding: nested, to: id) { throw .cycle(cycle) }
        }
        let existed = groups[id] != nil
        let before = reportsAffected && existed ? expandedSlots(of: id) : DeviceBitset(capacity: 0)
        // Unlink the old definition.
        if case .members(_, let nested)? = groups[id] {
            for child in nested { parents[child]?.remove(id) }
        }
        directMembers[id] = DeviceBitset(capacity: deviceOfSlot.count)
        var group = group
        if case .dynamic(let rule) = group { group = .dynamic(rule.lowercasedOperands()) }
        groups[id] = group
        switch group {
        case .members(let members, let nested):
            for child in nested { parents[child, default: []].insert(id) }
            for device in members { if let slot = slotOfDevice[device] { setDirectMembership(slot, of: id, to: true) } }
        case .dynamic(let rule):
            directMembers[id] = members(matching: rule)
        }
        guard reportsAffected else { return [] }
        return devices(in: before.symmetricDifference(expandedSlots(of: id)))
    }

    /// Builds the index from a whole tenant at once (the full recompute): the same result as
    /// adding everything one by one, without working out what each step affected.
    public mutating func load(devices: [Device], groups: [(String, Group)], policies: [AssignedPolicy]) throws(Problem) {
        reportsAffected = false
        defer { reportsAffected = true }
        for device in devices { upsert(device) }
        // Nested groups may name groups defined later in the list: define them empty first.
        for (id, _) in groups where self.groups[id] == nil { self.groups[id] = .members(devices: [], groups: []) }
        for (id, group) in groups { try setGroup(id, group) }
        for policy in policies { setPolicy(policy) }
    }

    @discardableResult
    public mutating func removeGroup(_ id: String) -> Set<String> {
        let affected = expandedMembers(of: id)
        if case .members(_, let nested)? = groups[id] {
            for child in nested { parents[child]?.remove(id) }
        }
        for parent in parents[id] ?? [] {
            if case .members(let members, var nested)? = groups[parent] {
                nested.remove(id)
                groups[parent] = .members(devices: members, groups: nested)
            }
        }
        directMembers[id] = nil
        parents[id] = nil
        groups[id] = nil
        for policy in policiesByGroup[id] ?? [] {
            policies[policy]?.includeGroups.remove(id)
            policies[policy]?.excludeGroups.remove(id)
        }
        policiesByGroup[id] = nil
        return affected
    }

    /// Why nesting `nested` in group `id` is refused, or nil when it is allowed.
    public func nestingProblem(_ nested: Set<String>, in id: String) -> Problem? {
        for child in nested.sorted() where groups[child] == nil && child != id { return .unknownGroup(child) }
        return cycle(adding: nested, to: id).map(Problem.cycle)
    }

    /// The devices a rule selects now, without defining a group (the rule preview).
    public func devices(matching rule: MembershipRule) -> Set<String> {
        devices(in: members(matching: rule.lowercasedOperands()))
    }

    /// The group's own members, not those of nested groups: the devices a static group lists
    /// (that exist), or those a dynamic group's rule selects. Ascending by id.
    public func directMembers(of group: String) -> [String] {
        (directMembers[group]?.slots ?? []).compactMap { deviceOfSlot[$0] }.sorted()
    }

    public func directMemberCount(of group: String) -> Int {
        directMembers[group]?.count ?? 0
    }

    /// Devices in the group, directly or through nested groups.
    public func expandedMembers(of group: String) -> Set<String> {
        devices(in: expandedSlots(of: group))
    }

    func expandedSlots(of group: String) -> DeviceBitset {
        var result = DeviceBitset(capacity: deviceOfSlot.count)
        var visited: Set<String> = []
        var stack = [group]
        while let current = stack.popLast() {
            guard visited.insert(current).inserted else { continue }
            if let members = directMembers[current] { result.formUnion(members) }
            if case .members(_, let nested)? = groups[current] { stack.append(contentsOf: nested) }
        }
        return result
    }

    func devices(in slots: DeviceBitset) -> Set<String> {
        Set(slots.slots.compactMap { deviceOfSlot[$0] })
    }

    /// Every group the device belongs to, directly or because a group containing it is nested
    /// in another.
    public func groups(of device: String) -> Set<String> {
        guard let slot = slotOfDevice[device] else { return [] }
        return withAncestors(directMembers.compactMap { $0.value.contains(slot) ? $0.key : nil })
    }

    /// The groups and every static group that contains one of them, transitively.
    private func withAncestors(_ groups: [String]) -> Set<String> {
        var result: Set<String> = []
        var stack = groups
        while let group = stack.popLast() {
            guard result.insert(group).inserted else { continue }
            stack.append(contentsOf: parents[group] ?? [])
        }
        return result
    }

    // MARK: Policies and scope

    @discardableResult
    public mutating func setPolicy(_ policy: AssignedPolicy) -> Set<String> {
        var affected = reportsAffected ? devicesReached(by: policies[policy.policy.id]) : []
        for group in (policies[policy.policy.id].map { $0.includeGroups.union($0.excludeGroups) } ?? []) {
            policiesByGroup[group]?.remove(policy.policy.id)
        }
        policies[policy.policy.id] = policy
        for group in policy.includeGroups.union(policy.excludeGroups) {
            policiesByGroup[group, default: []].insert(policy.policy.id)
        }
        if reportsAffected { affected.formUnion(devicesReached(by: policy)) }
        return affected
    }

    @discardableResult
    public mutating func removePolicy(_ id: String) -> Set<String> {
        let affected = devicesReached(by: policies[id])
        for group in (policies[id].map { $0.includeGroups.union($0.excludeGroups) } ?? []) {
            policiesByGroup[group]?.remove(id)
        }
        policies[id] = nil
        return affected
    }

    public func assignedPolicy(_ id: String) -> AssignedPolicy? { policies[id] }

    /// The devices a policy's include groups reach (before exclusions), directly or nested.
    public func devices(reachedBy policy: AssignedPolicy?) -> Set<String> { devicesReached(by: policy) }

    /// A new scope can change any device.
    @discardableResult
    public mutating func setScope(_ scope: EnforcementScope) -> Set<String> {
        self.scope = scope
        return Set(devices.keys)
    }

    // MARK: Effective configuration

    /// What a device's configuration is computed from. Devices with equal inputs receive equal
    /// configurations, so a large recompute merges, hashes and encodes each distinct input
    /// once (100k devices of the benchmark tenant have about 22k).
    public struct ConfigurationInputs: Sendable, Hashable {
        public var platform: PolicyPlatform
        /// Set when the device receives nothing (retired, out of scope, managed elsewhere).
        public var exclusion: String?
        public var leaveUntouched: Bool?
        /// The policies that target the device, by id, with the groups they reach it through.
        public var policies: [PolicyReference]
    }

    public func configurationInputs(of deviceId: String, overriding: AssignedPolicy? = nil) -> ConfigurationInputs? {
        configurationInputs(of: deviceId, directGroups: nil, overriding: overriding)
    }

    /// Inputs for many devices at once: memberships are read group by group, one pass over
    /// each group's bit set, instead of testing every group for every device.
    public func configurationInputs(of ids: [String], overriding: AssignedPolicy? = nil) -> [ConfigurationInputs?] {
        guard ids.count > 64 else { return ids.map { configurationInputs(of: $0, overriding: overriding) } }
        var wanted = DeviceBitset(capacity: deviceOfSlot.count)
        for id in ids { if let slot = slotOfDevice[id] { wanted.insert(slot) } }
        var directGroups = [[String]](repeating: [], count: deviceOfSlot.count)
        for (group, members) in directMembers {
            var selected = members
            selected.formIntersection(wanted)
            for slot in selected.slots { directGroups[slot].append(group) }
        }
        return ids.map { id in
            configurationInputs(of: id, directGroups: slotOfDevice[id].map { directGroups[$0] } ?? [], overriding: overriding)
        }
    }

    private func configurationInputs(of deviceId: String, directGroups: [String]?, overriding: AssignedPolicy?) -> ConfigurationInputs? {
        guard let device = devices[deviceId] else { return nil }
        let platform = device.platform.policyPlatform
        if device.isRetired {
            return ConfigurationInputs(platform: platform, exclusion: "retired by an administrator", policies: [])
        }
        if case .excluded(let reason) = scope.decision(platform: device.platform, tags: device.attributes.tags, managedBy: device.managedBy) {
            // Palisade never wrote on such a device: removing "its" files would remove the other channel's.
            let otherChannel = device.managedBy != .palisade && scope.takeOver[device.platform] != true
            return ConfigurationInputs(platform: platform, exclusion: reason, leaveUntouched: otherChannel ? true : nil, policies: [])
        }
        let deviceGroups = directGroups.map(withAncestors) ?? groups(of: deviceId)
        var candidates: Set<String> = []
        for group in deviceGroups { candidates.formUnion(policiesByGroup[group] ?? []) }
        var assigned = candidates.compactMap { policies[$0] }
        if let overriding {
            assigned.removeAll { $0.policy.id == overriding.policy.id }
            assigned.append(overriding)
        }
        let facts = DeviceTargetingFacts(deviceId: deviceId, platform: device.platform, groupIds: deviceGroups)
        return ConfigurationInputs(platform: platform, policies: resolver.targetingPolicies(for: facts, among: assigned).map(\.1))
    }

    /// The configuration for some inputs (from `configurationInputs` with the same `overriding`).
    public func effectiveConfiguration(for inputs: ConfigurationInputs, overriding: AssignedPolicy? = nil) -> EffectiveConfiguration {
        if inputs.exclusion != nil {
            return EffectiveConfiguration(platform: inputs.platform, exclusion: inputs.exclusion, leaveUntouched: inputs.leaveUntouched)
        }
        let targeting = inputs.policies.compactMap { reference -> (PolicySnapshot, PolicyReference)? in
            let snapshot = reference.id == overriding?.policy.id ? overriding?.policy : policies[reference.id]?.policy
            return snapshot.map { ($0, reference) }
        }
        return resolver.merge(targeting, platform: inputs.platform)
    }

    /// What the device receives: its merged configuration, or, when it is retired or out of
    /// the enforcement scope, an empty one that says why. `overriding` replaces one policy
    /// (the impact preview). Nil for an unknown device.
    public func effectiveConfiguration(of deviceId: String, overriding: AssignedPolicy? = nil) -> EffectiveConfiguration? {
        configurationInputs(of: deviceId, overriding: overriding).map { effectiveConfiguration(for: $0, overriding: overriding) }
    }

    // MARK: Internals

    private mutating func post(_ attributes: DeviceAttributes, slot: Int) {
        for attribute in DeviceAttribute.allCases {
            for value in attributes.values(of: attribute) { postings[attribute, default: [:]][value, default: []].insert(slot) }
        }
    }

    private mutating func unpost(_ attributes: DeviceAttributes, slot: Int) {
        for attribute in DeviceAttribute.allCases {
            for value in attributes.values(of: attribute) {
                postings[attribute]?[value]?.remove(slot)
                if postings[attribute]?[value]?.isEmpty == true { postings[attribute]?[value] = nil }
            }
        }
    }

    /// The devices a (lowercased) rule selects, evaluated on the postings: each comparison
    /// tests every distinct value of its attribute once, then -and/-or/-not are bit operations.
    /// Same semantics as `MembershipRule.evaluate(normalized:)`, which serves single devices.
    func members(matching rule: MembershipRule) -> DeviceBitset {
        switch rule {
        case .and(let left, let right):
            var result = members(matching: left)
            result.formIntersection(members(matching: right))
            return result
        case .or(let left, let right):
            var result = members(matching: left)
            result.formUnion(members(matching: right))
            return result
        case .not(let inner):
            return members(matching: inner).complement(within: liveSlots)
        case .comparison(let attribute, let op, let operand):
            var positive = DeviceBitset(capacity: deviceOfSlot.count)
            let values = postings[attribute] ?? [:]
            switch (op.positive, operand) {
            case (.eq, .string(let target)), (.contains, .string(let target)) where attribute.isList || op.positive == .eq:
                for slot in values[target] ?? [] { positive.insert(slot) }
            case (.in, .list(let targets)):
                for target in targets { for slot in values[target] ?? [] { positive.insert(slot) } }
            default:
                for (value, slots) in values where MembershipRule.holds(value, op.positive, operand, isList: attribute.isList) {
                    for slot in slots { positive.insert(slot) }
                }
            }
            return op.isNegated ? positive.complement(within: liveSlots) : positive
        }
    }

    private func devicesReached(by policy: AssignedPolicy?) -> Set<String> {
        guard let policy else { return [] }
        var result = DeviceBitset(capacity: deviceOfSlot.count)
        for group in policy.includeGroups { result.formUnion(expandedSlots(of: group)) }
        return devices(in: result)
    }

    private mutating func setDirectMembership(_ slot: Int, of group: String, to member: Bool) {
        if member {
            directMembers[group, default: DeviceBitset(capacity: deviceOfSlot.count)].insert(slot)
        } else {
            directMembers[group]?.remove(slot)
        }
    }

    /// A path that would close a cycle if `id` contained `nested`, or nil.
    private func cycle(adding nested: Set<String>, to id: String) -> [String]? {
        for child in nested.sorted() {
            if child == id { return [id, id] }
            // Does `child` (transitively) contain `id`?
            var stack: [(String, [String])] = [(child, [id, child])]
            var visited: Set<String> = []
            while let (current, path) = stack.popLast() {
                guard visited.insert(current).inserted else { continue }
                guard case .members(_, let grandchildren)? = groups[current] else { continue }
                for next in grandchildren.sorted() {
                    if next == id { return path + [id] }
                    stack.append((next, path + [next]))
                }
            }
        }
        return nil
    }

    static func lowercased(_ attributes: DeviceAttributes) -> DeviceAttributes {
        DeviceAttributes(
            platform: attributes.platform.lowercased(), osVersion: attributes.osVersion.lowercased(), name: attributes.name.lowercased(),
            tags: attributes.tags.map { $0.lowercased() }, agentTags: attributes.agentTags.map { $0.lowercased() }, managementType: attributes.managementType.lowercased(),
            agentVersion: attributes.agentVersion.lowercased(), enrolledAt: attributes.enrolledAt.lowercased(),
            lastCheckInAt: attributes.lastCheckInAt.lowercased(), defenderInstalled: attributes.defenderInstalled.lowercased(),
            defenderHealthy: attributes.defenderHealthy.lowercased(), defenderVersion: attributes.defenderVersion.lowercased())
    }
}

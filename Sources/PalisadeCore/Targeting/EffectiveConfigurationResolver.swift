/// Computes a device's effective configuration from the policies assigned to its groups.
/// Pure: the server calls it when a policy, assignment or membership changes.
public struct EffectiveConfigurationResolver: Sendable {
    public let catalog: SettingCatalog

    public init(catalog: SettingCatalog) {
        self.catalog = catalog
    }

    /// The policies that target the device: same platform, included through at least one of
    /// its groups and excluded through none. Sorted by policy id so merges are deterministic.
    public func targetingPolicies(for device: DeviceTargetingFacts, among assigned: [AssignedPolicy]) -> [(PolicySnapshot, PolicyReference)] {
        assigned
            .filter { $0.policy.platform == device.platform.policyPlatform }
            .filter { $0.excludeGroups.isDisjoint(with: device.groupIds) }
            .compactMap { assignment -> (PolicySnapshot, PolicyReference)? in
                let via = assignment.includeGroups.intersection(device.groupIds)
                guard !via.isEmpty else { return nil }
                let policy = assignment.policy
                return (policy, PolicyReference(id: policy.id, name: policy.name, revision: policy.revision, groupIds: via.sorted()))
            }
            .sorted { $0.1.id < $1.1.id }
    }

    public func resolve(for device: DeviceTargetingFacts, among assigned: [AssignedPolicy]) -> EffectiveConfiguration {
        merge(targetingPolicies(for: device, among: assigned), platform: device.platform.policyPlatform)
    }

    /// Merges policies in the given order. Same value: no conflict. Union settings: lists
    /// concatenated without duplicates, in policy order. Different scalar values: a conflict,
    /// and the setting is withheld.
    public func merge(_ policies: [(PolicySnapshot, PolicyReference)], platform: PolicyPlatform) -> EffectiveConfiguration {
        var contributions: [String: [(JSONValue, PolicyReference)]] = [:]
        for (policy, reference) in policies {
            for (settingId, value) in policy.settings {
                contributions[settingId, default: []].append((value, reference))
            }
        }

        var configuration = EffectiveConfiguration(platform: platform, policies: policies.map(\.1))
        for (settingId, values) in contributions {
            let merge = catalog.definition(settingId, platform: platform)?.merge ?? .conflict
            switch merge {
            case .keyedUnion:
                let (merged, keyConflicts) = mergeByKey(values, definition: catalog.definition(settingId, platform: platform))
                if let merged { configuration.settings[settingId] = EffectiveSetting(value: merged, policies: values.map(\.1)) }
                for (key, competing) in keyConflicts {
                    configuration.conflicts["\(settingId)[\(key)]"] = competing
                }
            case .union:
                var items: [JSONValue] = []
                var seen: Set<JSONValue> = []
                for (value, _) in values {
                    for item in value.arrayValue ?? [value] where seen.insert(item).inserted {
                        items.append(item)
                    }
                }
                configuration.settings[settingId] = EffectiveSetting(value: .array(items), policies: values.map(\.1))
            case .conflict:
                var distinct: [CompetingValue] = []
                for (value, reference) in values {
                    if let index = distinct.firstIndex(where: { $0.value == value }) {
                        distinct[index].policies.append(reference)
                    } else {
                        distinct.append(CompetingValue(value: value, policies: [reference]))
                    }
                }
                if distinct.count == 1 {
                    configuration.settings[settingId] = EffectiveSetting(value: distinct[0].value, policies: distinct[0].policies)
                } else {
                    configuration.conflicts[settingId] = distinct
                }
            }
        }
        return configuration
    }

    /// Keyed union: maps merge by key, keyed object lists by their key field. A key given two
    /// different values is withheld and reported as a conflict of its own; the rest is delivered.
    func mergeByKey(_ values: [(JSONValue, PolicyReference)], definition: SettingDefinition?) -> (JSONValue?, [String: [CompetingValue]]) {
        var keyField: String?
        if case .objectList(let schema)? = definition?.type { keyField = schema.keyField }
        var order: [String] = []
        var candidates: [String: [CompetingValue]] = [:]
        func add(_ key: String, _ value: JSONValue, _ reference: PolicyReference) {
            if candidates[key] == nil { order.append(key) }
            if let index = candidates[key, default: []].firstIndex(where: { $0.value == value }) {
                candidates[key]![index].policies.append(reference)
            } else {
                candidates[key, default: []].append(CompetingValue(value: value, policies: [reference]))
            }
        }
        for (value, reference) in values {
            if let keyField {
                for item in value.arrayValue ?? [] {
                    add(item.objectValue?[keyField]?.stringValue ?? item.description, item, reference)
                }
            } else {
                for (key, item) in (value.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                    add(key, item, reference)
                }
            }
        }
        var conflicts: [String: [CompetingValue]] = [:]
        var mapResult: [String: JSONValue] = [:]
        var listResult: [JSONValue] = []
        for key in order {
            let competing = candidates[key]!
            guard competing.count == 1 else {
                conflicts[key] = competing
                continue
            }
            if keyField != nil { listResult.append(competing[0].value) } else { mapResult[key] = competing[0].value }
        }
        if keyField != nil {
            return (listResult.isEmpty && !conflicts.isEmpty ? nil : .array(listResult), conflicts)
        }
        return (mapResult.isEmpty && !conflicts.isEmpty ? nil : .object(mapResult), conflicts)
    }
}

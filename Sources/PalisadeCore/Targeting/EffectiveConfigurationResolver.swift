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
}

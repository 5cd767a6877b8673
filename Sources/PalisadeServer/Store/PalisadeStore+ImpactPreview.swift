import Foundation
import PalisadeCore
import SQLKit

/// What a policy change would do, computed without saving anything.
public struct ImpactPreview: Codable, Sendable {
    public struct SettingImpact: Codable, Sendable {
        public var settingId: String
        public var devices: Int
    }

    /// Devices targeted before or after the change.
    public var devicesEvaluated: Int
    /// Devices whose delivered configuration would change.
    public var devicesChanged: Int
    /// Settings whose delivered value would change, with on how many devices.
    public var settings: [SettingImpact]
    /// Settings that would become conflicts, and on how many devices.
    public var newConflicts: [SettingImpact]
    /// Conflicts that the change would resolve.
    public var resolvedConflicts: [SettingImpact]
}

extension PalisadeStore {
    /// Previews new settings and/or assignments of a policy against the current directory.
    public func previewPolicyChange(tenant: String, policy id: String, settings: [String: JSONValue]?, include: [String]?, exclude: [String]?) async throws -> ImpactPreview {
        try await readDirectory(tenant: tenant) { index in
            let current = try await read { sql in try await Self.policy(tenant: tenant, id: id, on: sql) }
            let newSettings = settings ?? current.settings
            let problems = PolicyValidator(catalog: catalog).problems(platform: current.platform, template: current.template, settings: newSettings)
            guard problems.isEmpty else { throw PalisadeError.invalidSettings(problems) }
            let newInclude = include.map { Set($0) } ?? Set(current.assignments.include)
            let newExclude = exclude.map { Set($0) } ?? Set(current.assignments.exclude)
            let missing = newInclude.union(newExclude).filter { index.groups[$0] == nil }.sorted()
            guard missing.isEmpty else {
                throw PalisadeError(.badRequest, code: "unknown_group", message: "assignments name groups that do not exist: \(missing.joined(separator: ", "))",
                                    details: ["unknown": .array(missing.map(JSONValue.string))])
            }
            let override = AssignedPolicy(
                policy: PolicySnapshot(id: id, name: current.name, revision: current.revision + 1, platform: current.platform, settings: newSettings),
                includeGroups: newInclude, excludeGroups: newExclude)

            // Only devices the policy reaches now or would reach can change.
            let devices = index.devices(reachedBy: index.assignedPolicy(id)).union(index.devices(reachedBy: override))
            var preview = ImpactPreview(devicesEvaluated: devices.count, devicesChanged: 0, settings: [], newConflicts: [], resolvedConflicts: [])
            var settingCounts: [String: Int] = [:]
            var newConflicts: [String: Int] = [:]
            var resolved: [String: Int] = [:]
            let ids = Array(devices)
            for (current, changed) in zip(index.configurationInputs(of: ids), index.configurationInputs(of: ids, overriding: override)) {
                guard let current, let changed else { continue }
                let before = index.effectiveConfiguration(for: current)
                let proposed = index.effectiveConfiguration(for: changed, overriding: override)
                let oldValues = before.deliveredSettings
                let newValues = proposed.deliveredSettings
                if oldValues != newValues { preview.devicesChanged += 1 }
                for key in Set(oldValues.keys).union(newValues.keys) where oldValues[key] != newValues[key] {
                    settingCounts[key, default: 0] += 1
                }
                for key in Set(proposed.conflicts.keys).subtracting(before.conflicts.keys) { newConflicts[key, default: 0] += 1 }
                for key in Set(before.conflicts.keys).subtracting(proposed.conflicts.keys) { resolved[key, default: 0] += 1 }
            }
            func list(_ counts: [String: Int]) -> [ImpactPreview.SettingImpact] {
                counts.sorted { $0.key < $1.key }.map { .init(settingId: $0.key, devices: $0.value) }
            }
            preview.settings = list(settingCounts)
            preview.newConflicts = list(newConflicts)
            preview.resolvedConflicts = list(resolved)
            return preview
        }
    }
}

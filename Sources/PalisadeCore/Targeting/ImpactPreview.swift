/// What a policy change would do, computed on the directory engine without saving anything.
public struct ImpactPreview: Codable, Sendable, Hashable {
    public struct SettingImpact: Codable, Sendable, Hashable {
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

extension DirectoryIndex {
    /// Compares every device the policy reaches now or would reach as `proposed` (same policy
    /// id, new settings or assignments): which delivered values and conflicts would change.
    public func impactPreview(of proposed: AssignedPolicy) -> ImpactPreview {
        // Only devices the policy reaches now or would reach can change.
        let devices = Array(self.devices(reachedBy: assignedPolicy(proposed.policy.id)).union(self.devices(reachedBy: proposed)))
        var devicesChanged = 0
        var settingCounts: [String: Int] = [:]
        var newConflicts: [String: Int] = [:]
        var resolved: [String: Int] = [:]
        for (current, changed) in zip(configurationInputs(of: devices), configurationInputs(of: devices, overriding: proposed)) {
            guard let current, let changed else { continue }
            let before = effectiveConfiguration(for: current)
            let after = effectiveConfiguration(for: changed, overriding: proposed)
            let oldValues = before.deliveredSettings
            let newValues = after.deliveredSettings
            if oldValues != newValues { devicesChanged += 1 }
            for key in Set(oldValues.keys).union(newValues.keys) where oldValues[key] != newValues[key] {
                settingCounts[key, default: 0] += 1
            }
            for key in Set(after.conflicts.keys).subtracting(before.conflicts.keys) { newConflicts[key, default: 0] += 1 }
            for key in Set(before.conflicts.keys).subtracting(after.conflicts.keys) { resolved[key, default: 0] += 1 }
        }
        func list(_ counts: [String: Int]) -> [ImpactPreview.SettingImpact] {
            counts.sorted { $0.key < $1.key }.map { .init(settingId: $0.key, devices: $0.value) }
        }
        return ImpactPreview(devicesEvaluated: devices.count, devicesChanged: devicesChanged, settings: list(settingCounts),
                             newConflicts: list(newConflicts), resolvedConflicts: list(resolved))
    }
}

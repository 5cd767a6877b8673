/// Every state the reports store for one device, derived in one pass from its effective
/// configuration and its last report: the device's overall state, each targeting policy's
/// state (with the settings that policy contributes) and each setting's status.
public struct DeviceOutcome: Sendable, Hashable {
    public struct Policy: Sendable, Hashable {
        public var policy: PolicyReference
        public var state: SettingState
        /// Why, when the state calls for an explanation (error, conflict, notApplicable).
        public var reason: String?
        /// The state of each setting attributed to this policy on the device.
        public var settings: [String: SettingState]
    }

    /// The worst state over every setting of the device; notApplicable for a device that
    /// receives nothing (out of scope, retired, managed by another channel).
    public var state: SettingState
    /// By policy id: every policy that targets the device.
    public var policies: [String: Policy]
    /// By setting id.
    public var settings: [String: SettingStatus]
}

extension StatusEvaluator {
    /// The states of one device, consistent with `settingStatuses` and `policyState`.
    public static func outcome(of configuration: EffectiveConfiguration, report: DeviceReport) -> DeviceOutcome {
        let statuses = settingStatuses(of: configuration, report: report)
        let current = report.configurationHash == configuration.deviceConfiguration.hash
        var byPolicy: [String: [SettingStatus]] = [:]
        for status in statuses {
            for policy in Set(status.policies.map(\.id)) { byPolicy[policy, default: []].append(status) }
        }
        var policies: [String: DeviceOutcome.Policy] = [:]
        for policy in configuration.policies {
            let own = byPolicy[policy.id] ?? []
            let state = worstState(of: own, current: current)
            policies[policy.id] = DeviceOutcome.Policy(
                policy: policy, state: state, reason: reason(for: state, policyId: policy.id, statuses: own),
                settings: Dictionary(own.map { ($0.settingId, $0.state) }, uniquingKeysWith: { first, _ in first }))
        }
        let overall: SettingState = configuration.exclusion != nil ? .notApplicable : worstState(of: statuses, current: current)
        return DeviceOutcome(state: overall, policies: policies, settings: Dictionary(statuses.map { ($0.settingId, $0) }, uniquingKeysWith: { first, _ in first }))
    }

    /// Conflict, then error, then pending win; notApplicable when every setting is; with no
    /// settings at all, succeeded once the device reported on this configuration.
    static func worstState(of statuses: [SettingStatus], current: Bool) -> SettingState {
        if statuses.isEmpty { return current ? .succeeded : .pending }
        let states = Set(statuses.map(\.state))
        for state in [SettingState.conflict, .error, .pending] where states.contains(state) {
            return state
        }
        return states == [.notApplicable] ? .notApplicable : .succeeded
    }

    /// The first setting (by id) in the state that decided it, with the agent's message or the
    /// competing policies.
    static func reason(for state: SettingState, policyId: String, statuses: [SettingStatus]) -> String? {
        guard let status = statuses.first(where: { $0.state == state }) else { return nil }
        switch state {
        case .conflict:
            let others = Set((status.competingValues ?? []).flatMap(\.policies).filter { $0.id != policyId }.map { "\"\($0.name)\"" }).sorted()
            return "\(status.settingId): conflict with policy " + (others.isEmpty ? "(another)" : others.joined(separator: ", "))
        case .error:
            return "\(status.settingId): " + (status.detail ?? "the agent reported an error")
        case .notApplicable:
            return status.detail.map { "\(status.settingId): \($0)" } ?? "not applicable on this device"
        case .succeeded, .pending:
            return nil
        }
    }
}

/// The state of one setting (or one policy) on one device, as admins see it in reports.
public enum SettingState: String, Codable, Sendable, Hashable, CaseIterable {
    case succeeded
    case error
    case conflict
    /// Delivered or changed, not yet reported on.
    case pending
    case notApplicable
}

/// What a device last reported: for which configuration hash, and per setting.
public struct DeviceReport: Sendable, Hashable {
    public var configurationHash: String?
    public var results: [String: DeviceProtocol.SettingResult]

    public init(configurationHash: String?, results: [String: DeviceProtocol.SettingResult]) {
        self.configurationHash = configurationHash
        self.results = results
    }

    public static let none = DeviceReport(configurationHash: nil, results: [:])
}

/// One setting of a device with its state, value and provenance.
public struct SettingStatus: Sendable, Hashable, Codable {
    public var settingId: String
    public var value: JSONValue?
    public var state: SettingState
    public var detail: String?
    public var policies: [PolicyReference]
    /// For conflicts: every competing value with its policies.
    public var competingValues: [CompetingValue]?
}

/// Derives states from the effective configuration and the device's last report. Pure.
public enum StatusEvaluator {
    public static func settingStatuses(of configuration: EffectiveConfiguration, report: DeviceReport) -> [SettingStatus] {
        let current = report.configurationHash == configuration.deviceConfiguration.hash
        var statuses: [SettingStatus] = []
        for (id, setting) in configuration.settings {
            var status = SettingStatus(settingId: id, value: setting.value, state: .pending, detail: nil, policies: setting.policies, competingValues: nil)
            if current, let result = report.results[id] {
                status.state = SettingState(result.state)
                status.detail = result.detail
            }
            statuses.append(status)
        }
        for (id, competing) in configuration.conflicts {
            let policies = competing.flatMap(\.policies).sorted()
            let description = competing.map { value in
                "\(value.value) from " + value.policies.map { "\"\($0.name)\" (revision \($0.revision))" }.joined(separator: ", ")
            }.joined(separator: "; ")
            statuses.append(SettingStatus(settingId: id, value: nil, state: .conflict, detail: "Not delivered: policies disagree: \(description)", policies: policies, competingValues: competing))
        }
        return statuses.sorted { $0.settingId < $1.settingId }
    }

    /// The state of one policy on a device: the worst state of its settings there
    /// (conflict, then error, then pending); notApplicable when all its settings are.
    public static func policyState(policyId: String, configuration: EffectiveConfiguration, report: DeviceReport) -> SettingState {
        let statuses = settingStatuses(of: configuration, report: report).filter { status in
            status.policies.contains { $0.id == policyId }
        }
        return worstState(of: statuses, current: report.configurationHash == configuration.deviceConfiguration.hash)
    }
}

extension SettingState {
    public init(_ reported: DeviceProtocol.ReportedState) {
        switch reported {
        case .succeeded: self = .succeeded
        case .error: self = .error
        case .notApplicable: self = .notApplicable
        case .pending: self = .pending
        }
    }
}

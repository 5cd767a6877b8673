import Foundation
import PalisadeCore

// TEMPORARY: stand-ins, with the shapes of the store calls being built on other branches;
// removed at merge.
public struct DeviceHistoryEvent: Codable, Sendable, Hashable {
    public var id: String
    public var at: Date
    public var kind: DeviceHistoryKind
    public var subjectId: String
    public var subjectName: String
    public var oldState: String?
    public var newState: String?
    public var revision: Int?
    public var reason: String
}

public enum DeviceHistoryKind: String, Codable, Sendable, CaseIterable {
    case policyState
    case settingState
}

public struct TenantOverview: Codable, Sendable {
    public struct PolicyStates: Codable, Sendable {
        public var policyId: String
        public var policyName: String
        public var summary: PolicyReport.Summary
    }

    public struct DeviceNeedingAttention: Codable, Sendable {
        public var deviceId: String
        public var deviceName: String
        public var platform: DevicePlatform
        public var state: SettingState
    }

    public var devicesByPlatform: [String: Int]
    public var devicesByState: [String: Int]
    public var staleDevices: Int
    public var retiredDevices: Int
    public var policies: [PolicyStates]
    public var policiesWithErrors: Int
    public var devicesNeedingAttention: [DeviceNeedingAttention]
    public var devicesNeedingAttentionCount: Int
}

public struct DeviceFilter: Sendable, Hashable {
    public var search: String?
    public var platform: DevicePlatform?
    public var state: SettingState?
    public var tag: String?
    public var group: String?

    public init(search: String? = nil, platform: DevicePlatform? = nil, state: SettingState? = nil, tag: String? = nil, group: String? = nil) {
        self.search = search
        self.platform = platform
        self.state = state
        self.tag = tag
        self.group = group
    }
}

extension PalisadeStore {
    func devices(tenant: String, filter: DeviceFilter, limit: Int, after cursor: String?) async throws -> Page<Device> {
        try await devices(tenant: tenant, limit: limit, after: cursor)
    }

    func deviceHistory(tenant: String, device: String, limit: Int, after cursor: String?) async throws -> Page<DeviceHistoryEvent> {
        Page(items: [], nextCursor: nil)
    }

    func tenantOverview(tenant: String, attentionLimit: Int = 20) async throws -> TenantOverview {
        TenantOverview(devicesByPlatform: [:], devicesByState: [:], staleDevices: 0, retiredDevices: 0, policies: [], policiesWithErrors: 0,
                       devicesNeedingAttention: [], devicesNeedingAttentionCount: 0)
    }
}

public struct PolicySettingsReport: Codable, Sendable {
    public struct Setting: Codable, Sendable {
        public var settingId: String
        public var summary: PolicyReport.Summary
    }

    public var policyId: String
    public var revision: Int
    public var settings: [Setting]
}

extension PalisadeStore {
    func policyReport(tenant: String, policy id: String, state: SettingState? = nil, search: String? = nil,
                      limit: Int = 100, after cursor: String? = nil) async throws -> PolicyReport {
        try await policyReport(tenant: tenant, policy: id, limit: limit, after: cursor)
    }

    func policySettingsReport(tenant: String, policy id: String) async throws -> PolicySettingsReport {
        PolicySettingsReport(policyId: id, revision: 0, settings: [])
    }
}

import Foundation
import PalisadeCore
import SQLKit

public struct PolicyReport: Codable, Sendable {
    public struct Summary: Codable, Sendable {
        public var succeeded = 0
        public var error = 0
        public var conflict = 0
        public var pending = 0
        public var notApplicable = 0

        mutating func count(_ state: SettingState) {
            switch state {
            case .succeeded: succeeded += 1
            case .error: error += 1
            case .conflict: conflict += 1
            case .pending: pending += 1
            case .notApplicable: notApplicable += 1
            }
        }
    }

    public struct DeviceRow: Codable, Sendable {
        public var deviceId: String
        public var deviceName: String
        public var state: SettingState
        public var revision: Int
        public var lastReportAt: Date?
        /// Not seen for longer than the tenant's stale threshold (kept, only flagged).
        public var stale: Bool
    }

    public var policyId: String
    public var revision: Int
    public var summary: Summary
    public var devices: [DeviceRow]
}

extension PalisadeStore {
    /// Per device targeted by the policy: the policy's state there and the revision delivered.
    public func policyReport(tenant: String, policy id: String) async throws -> PolicyReport {
        try await read { sql in
            let policy = try await Self.policy(tenant: tenant, id: id, on: sql)
            let staleBefore = Timestamp.nowMillis() - Int64(try await Self.tenantSettings(tenant: tenant, on: sql).1.staleAfterDays) * 86_400_000
            let targets = try await sql.raw("""
                SELECT t.device_id, t.revision, d.name, d.last_check_in_at, d.enrolled_at FROM device_policy_targets t JOIN devices d ON d.id = t.device_id
                WHERE t.policy_id = \(bind: id) AND t.tenant_id = \(bind: tenant) ORDER BY d.name, d.id
                """).all()
            var report = PolicyReport(policyId: id, revision: policy.revision, summary: .init(), devices: [])
            for row in targets {
                let deviceId = try row.string("device_id")
                guard let configuration = try await Self.effectiveConfiguration(deviceId: deviceId, on: sql) else { continue }
                let (deviceReport, reportedAt) = try await Self.deviceReport(deviceId: deviceId, on: sql)
                let state = StatusEvaluator.policyState(policyId: id, configuration: configuration, report: deviceReport)
                report.summary.count(state)
                let lastSeen = try row.optionalMillis("last_check_in_at") ?? row.millis("enrolled_at")
                report.devices.append(.init(deviceId: deviceId, deviceName: try row.string("name"), state: state,
                                            revision: try row.int("revision"), lastReportAt: reportedAt, stale: lastSeen < staleBefore))
            }
            return report
        }
    }

    /// Every setting managed on a device with its value, state and provenance.
    public func deviceSettings(tenant: String, device id: String) async throws -> [SettingStatus] {
        try await read { sql in
            _ = try await Self.device(tenant: tenant, id: id, on: sql)
            guard let configuration = try await Self.effectiveConfiguration(deviceId: id, on: sql) else { return [] }
            let (report, _) = try await Self.deviceReport(deviceId: id, on: sql)
            return StatusEvaluator.settingStatuses(of: configuration, report: report)
        }
    }
}

/// Why a device has the values it has: every delivered setting with the policies (and groups)
/// it came from, and every conflict with each competing value and its policies.
public struct DeviceProvenance: Codable, Sendable {
    public struct Setting: Codable, Sendable {
        public var settingId: String
        public var value: JSONValue
        public var policies: [PolicyReference]
    }

    public struct Conflict: Codable, Sendable {
        public var settingId: String
        public var values: [CompetingValue]
    }

    public var deviceId: String
    public var configurationHash: String
    public var policies: [PolicyReference]
    public var settings: [Setting]
    public var conflicts: [Conflict]
}

extension PalisadeStore {
    public func provenance(tenant: String, device id: String) async throws -> DeviceProvenance {
        try await read { sql in
            let device = try await Self.device(tenant: tenant, id: id, on: sql)
            let configuration = try await Self.effectiveConfiguration(deviceId: id, on: sql) ?? EffectiveConfiguration(platform: device.platform.policyPlatform)
            return DeviceProvenance(
                deviceId: id, configurationHash: configuration.deviceConfiguration.hash, policies: configuration.policies,
                settings: configuration.settings.sorted { $0.key < $1.key }.map { .init(settingId: $0.key, value: $0.value.value, policies: $0.value.policies) },
                conflicts: configuration.conflicts.sorted { $0.key < $1.key }.map { .init(settingId: $0.key, values: $0.value) })
        }
    }
}

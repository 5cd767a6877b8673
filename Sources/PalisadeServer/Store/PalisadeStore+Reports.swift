import Foundation
import NIOConcurrencyHelpers
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
    /// Over every device the policy targets.
    public var summary: Summary
    /// One page of them, by name.
    public var devices: [DeviceRow]
    public var nextCursor: String?
}

extension PalisadeStore {
    /// Per device targeted by the policy: the policy's state there and the revision delivered.
    /// One query over one snapshot, streamed: the summary counts every device, the page keeps
    /// `limit` of them after `cursor` (devices ordered by name, then id).
    public func policyReport(tenant: String, policy id: String, limit: Int = 100, after cursor: String? = nil) async throws -> PolicyReport {
        let position = try cursor.map(ReportCursor.init(encoded:))
        let now = clock.nowMillis
        return try await readSnapshot { sql in
            let policy = try await Self.policy(tenant: tenant, id: id, on: sql)
            let staleBefore = now - Int64(try await Self.tenantSettings(tenant: tenant, on: sql).1.staleAfterDays) * 86_400_000
            let accumulator = NIOLockedValueBox(PolicyReportAccumulator(limit: limit, after: position))
            try await sql.raw("""
                SELECT t.device_id, t.revision, d.name, d.last_check_in_at, d.enrolled_at, c.effective,
                    r.configuration_hash AS reported_hash, r.results, r.reported_at
                FROM device_policy_targets t
                JOIN devices d ON d.id = t.device_id
                JOIN device_configurations c ON c.device_id = t.device_id
                LEFT JOIN device_reports r ON r.device_id = t.device_id
                WHERE t.policy_id = \(bind: id) AND t.tenant_id = \(bind: tenant)
                ORDER BY d.name, d.id
                """).run { row in
                do {
                    let deviceId = try row.string("device_id")
                    let configuration = try row.json("effective", as: EffectiveConfiguration.self)
                    let report: DeviceReport = if let hash = try row.optionalString("reported_hash") {
                        DeviceReport(configurationHash: hash, results: try row.json("results", as: [String: DeviceProtocol.SettingResult].self))
                    } else {
                        .none
                    }
                    let state = StatusEvaluator.policyState(policyId: id, configuration: configuration, report: report)
                    let lastSeen = try row.optionalMillis("last_check_in_at") ?? row.millis("enrolled_at")
                    let device = PolicyReport.DeviceRow(
                        deviceId: deviceId, deviceName: try row.string("name"), state: state, revision: try row.int("revision"),
                        lastReportAt: Timestamp.optionalDate(try row.optionalMillis("reported_at")), stale: lastSeen < staleBefore)
                    accumulator.withLockedValue { $0.add(device) }
                } catch {
                    accumulator.withLockedValue { $0.failure = $0.failure ?? error }
                }
            }
            let result = accumulator.withLockedValue { $0 }
            if let failure = result.failure { throw failure }
            return PolicyReport(policyId: id, revision: policy.revision, summary: result.summary, devices: result.page,
                                nextCursor: result.hasMore ? result.page.last.map { ReportCursor(name: $0.deviceName, id: $0.deviceId).encoded } : nil)
        }
    }

    /// Every setting managed on a device with its value, state and provenance.
    public func deviceSettings(tenant: String, device id: String) async throws -> [SettingStatus] {
        try await readSnapshot { sql in
            _ = try await Self.device(tenant: tenant, id: id, on: sql)
            guard let configuration = try await Self.effectiveConfiguration(deviceId: id, on: sql) else { return [] }
            let (report, _) = try await Self.deviceReport(deviceId: id, on: sql)
            return StatusEvaluator.settingStatuses(of: configuration, report: report)
        }
    }
}

/// Counts every row of a policy report and keeps one page of them.
private struct PolicyReportAccumulator: Sendable {
    let limit: Int
    let after: ReportCursor?
    var summary = PolicyReport.Summary()
    var page: [PolicyReport.DeviceRow] = []
    var hasMore = false
    var failure: (any Error)?

    init(limit: Int, after: ReportCursor?) {
        self.limit = limit
        self.after = after
    }

    mutating func add(_ device: PolicyReport.DeviceRow) {
        summary.count(device.state)
        if let after, (device.deviceName, device.deviceId) <= (after.name, after.id) { return }
        if page.count < limit { page.append(device) } else { hasMore = true }
    }
}

/// Where a page ordered by device name starts: the last name and id of the previous page.
struct ReportCursor: Sendable, Hashable {
    var name: String
    var id: String

    init(name: String, id: String) {
        self.name = name
        self.id = id
    }

    init(encoded: String) throws {
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let pair = try? JSONDecoder().decode([String].self, from: data), pair.count == 2 else {
            throw PalisadeError.invalid("cursor is not one this server handed out", field: "cursor")
        }
        name = pair[0]
        id = pair[1]
    }

    var encoded: String {
        let data = (try? JSONEncoder().encode([name, id])) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
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
        try await readSnapshot { sql in
            let device = try await Self.device(tenant: tenant, id: id, on: sql)
            let configuration = try await Self.effectiveConfiguration(deviceId: id, on: sql) ?? EffectiveConfiguration(platform: device.platform.policyPlatform)
            return DeviceProvenance(
                deviceId: id, configurationHash: configuration.deviceConfiguration.hash, policies: configuration.policies,
                settings: configuration.settings.sorted { $0.key < $1.key }.map { .init(settingId: $0.key, value: $0.value.value, policies: $0.value.policies) },
                conflicts: configuration.conflicts.sorted { $0.key < $1.key }.map { .init(settingId: $0.key, values: $0.value) })
        }
    }
}

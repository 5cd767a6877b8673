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

        public init() {}

        mutating func add(_ state: SettingState, count: Int = 1) {
            switch state {
            case .succeeded: succeeded += count
            case .error: error += count
            case .conflict: conflict += count
            case .pending: pending += count
            case .notApplicable: notApplicable += count
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
    /// The policy's state on every device it targets: the summary counts them all (one GROUP BY
    /// over the stored states), the page keeps `limit` of those matching `state` and `search`
    /// (device name contains, case-insensitive) after `cursor`, ordered by device name, then id.
    public func policyReport(tenant: String, policy id: String, state: SettingState? = nil, search: String? = nil,
                             limit: Int = 100, after cursor: String? = nil) async throws -> PolicyReport {
        let position = try cursor.map(ReportCursor.init(encoded:))
        let now = clock.nowMillis
        return try await readSnapshot { sql in
            let policy = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            let staleBefore = try await Self.staleBefore(tenant: tenant, now: now, on: sql)
            var summary = PolicyReport.Summary()
            for row in try await sql.raw("""
                SELECT state, COUNT(*) AS n FROM device_policy_targets WHERE tenant_id = \(bind: tenant) AND policy_id = \(bind: id) GROUP BY state
                """).all() {
                if let state = SettingState(rawValue: try row.string("state")) { summary.add(state, count: try row.int("n")) }
            }
            let rows = try await Self.policyDeviceRows(tenant: tenant, policy: id, state: state, search: search, setting: nil,
                                                       limit: limit + 1, after: position, staleBefore: staleBefore, on: sql)
            let page = Array(rows.prefix(limit))
            return PolicyReport(policyId: id, revision: policy.revision, summary: summary, devices: page,
                                nextCursor: rows.count > limit ? page.last.map { ReportCursor(name: $0.deviceName, id: $0.deviceId).encoded } : nil)
        }
    }

    /// One page of a policy report's devices without the summary (what an export reads, page
    /// after page).
    public func policyReportDevices(tenant: String, policy id: String, state: SettingState? = nil, search: String? = nil,
                                    limit: Int = 1000, after cursor: String? = nil) async throws -> Page<PolicyReport.DeviceRow> {
        let position = try cursor.map(ReportCursor.init(encoded:))
        let now = clock.nowMillis
        return try await readSnapshot { sql in
            _ = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            let rows = try await Self.policyDeviceRows(tenant: tenant, policy: id, state: state, search: search, setting: nil, limit: limit + 1, after: position,
                                                       staleBefore: try await Self.staleBefore(tenant: tenant, now: now, on: sql), on: sql)
            return Page(fetched: rows, limit: limit) { ReportCursor(name: $0.deviceName, id: $0.deviceId).encoded }
        }
    }

    static func staleBefore(tenant: String, now: Int64, on sql: any SQLDatabase) async throws -> Int64 {
        now - Int64(try await TenantSettingsRepository.settings(tenant: tenant, on: sql).1.staleAfterDays) * 86_400_000
    }

    /// Devices targeted by a policy, by name then id, from the stored states. With `setting`,
    /// only devices where that setting (attributed to this policy) is in `state` (any state when
    /// nil), and each row's state is the setting's.
    static func policyDeviceRows(tenant: String, policy id: String, state: SettingState?, search: String?, setting: String?,
                                 limit: Int, after position: ReportCursor?, staleBefore: Int64, on sql: any SQLDatabase) async throws -> [PolicyReport.DeviceRow] {
        var query: SQLQueryString = """
            SELECT t.device_id, t.revision, t.state, \(unsafeRaw: setting == nil ? "'' AS setting_states" : "t.setting_states"), d.name, d.last_check_in_at, d.enrolled_at, r.reported_at
            FROM device_policy_targets t
            JOIN devices d ON d.id = t.device_id
            LEFT JOIN device_reports r ON r.device_id = t.device_id
            WHERE t.tenant_id = \(bind: tenant) AND t.policy_id = \(bind: id) AND d.tenant_id = \(bind: tenant)
            """
        if let setting {
            query += " AND t.setting_states LIKE \(bind: StoredSettingStates.likePattern(settingId: setting, state: state)) ESCAPE '\\'"
        } else if let state {
            query += " AND t.state = \(bind: state.rawValue)"
        }
        if let search { query += " AND LOWER(d.name) LIKE \(bind: "%" + escapeLike(search.lowercased()) + "%") ESCAPE '\\'" }
        if let position {
            // A row value: both engines walk the (tenant_id, name, id) index from there.
            query += " AND (d.name, d.id) > (\(bind: position.name), \(bind: position.id))"
        }
        query += " ORDER BY d.name, d.id LIMIT \(bind: limit)"
        return try await sql.raw(query).all().map { row in
            var rowState = SettingState(rawValue: try row.string("state")) ?? .pending
            if let setting {
                let stored = StoredSettingStates.escaped(setting)
                StoredSettingStates.forEach(in: try row.string("setting_states")) { id, state in
                    if id == stored { rowState = state }
                }
            }
            let lastSeen = try row.optionalMillis("last_check_in_at") ?? row.millis("enrolled_at")
            return PolicyReport.DeviceRow(
                deviceId: try row.string("device_id"), deviceName: try row.string("name"), state: rowState, revision: try row.int("revision"),
                lastReportAt: Timestamp.optionalDate(try row.optionalMillis("reported_at")), stale: lastSeen < staleBefore)
        }
    }

    /// Every setting managed on a device with its value, state and provenance.
    public func deviceSettings(tenant: String, device id: String) async throws -> [SettingStatus] {
        try await readSnapshot { sql in
            _ = try await Self.device(tenant: tenant, id: id, on: sql)
            guard let configuration = try await Self.effectiveConfiguration(deviceId: id, tenant: tenant, on: sql) else { return [] }
            let (report, _) = try await Self.deviceReport(deviceId: id, tenant: tenant, on: sql)
            return StatusEvaluator.settingStatuses(of: configuration, report: report)
        }
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
            throw DomainError.unknownCursor
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
            let configuration = try await Self.effectiveConfiguration(deviceId: id, tenant: tenant, on: sql) ?? EffectiveConfiguration(platform: device.platform.policyPlatform)
            return DeviceProvenance(
                deviceId: id, configurationHash: configuration.deviceConfiguration.hash, policies: configuration.policies,
                settings: configuration.settings.sorted { $0.key < $1.key }.map { .init(settingId: $0.key, value: $0.value.value, policies: $0.value.policies) },
                conflicts: configuration.conflicts.sorted { $0.key < $1.key }.map { .init(settingId: $0.key, values: $0.value) })
        }
    }
}

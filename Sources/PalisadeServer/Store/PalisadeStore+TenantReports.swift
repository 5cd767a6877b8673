import Foundation
import NIOConcurrencyHelpers
import PalisadeCore
import SQLKit

/// For each setting of a policy, how many targeted devices are in each state.
public struct PolicySettingsReport: Codable, Sendable {
    public struct Setting: Codable, Sendable {
        public var settingId: String
        public var summary: PolicyReport.Summary
    }

    public var policyId: String
    public var revision: Int
    /// The settings of the policy's current revision, then any other setting still attributed to
    /// it on devices that have not received that revision, by id.
    public var settings: [Setting]
}

/// The devices in one state (or any) of one setting of a policy: one page, by device name.
public struct PolicySettingDevices: Codable, Sendable {
    public var policyId: String
    public var settingId: String
    public var state: SettingState?
    /// Each row's `state` is the setting's state on the device.
    public var devices: [PolicyReport.DeviceRow]
    public var nextCursor: String?
}

/// One change of state on a device, newest first in `deviceHistory`.
public struct DeviceHistoryEvent: Codable, Sendable, Hashable {
    public var id: String
    public var at: Date
    public var kind: DeviceHistoryKind
    /// The policy id (policyState) or setting id (settingState).
    public var subjectId: String
    /// The policy's name, or the setting id.
    public var subjectName: String
    /// `SettingState` raw values; absent when the policy or setting was not there before /
    /// is no longer there.
    public var oldState: String?
    public var newState: String?
    /// The policy revision the device holds with this state.
    public var revision: Int?
    /// The agent's message for errors, "new revision delivered: revision 3", "conflict with
    /// policy ...", etc.
    public var reason: String
}

/// The tenant at a glance, from stored states: cheap at 100k devices (GROUP BYs over indexes).
public struct TenantOverview: Codable, Sendable {
    public struct PolicyStates: Codable, Sendable {
        public var policyId: String
        public var policyName: String
        /// Devices the policy targets, per state of the policy there.
        public var summary: PolicyReport.Summary
    }

    public struct DeviceNeedingAttention: Codable, Sendable {
        public var deviceId: String
        public var deviceName: String
        public var platform: DevicePlatform
        public var state: SettingState
    }

    /// Enrolled (not retired) devices per platform.
    public var devicesByPlatform: [String: Int]
    /// Enrolled devices per overall state (`SettingState` raw values).
    public var devicesByState: [String: Int]
    public var staleDevices: Int
    public var retiredDevices: Int
    public var policies: [PolicyStates]
    /// Policies with at least one device in error or conflict.
    public var policiesWithErrors: Int
    /// The first `attentionLimit` devices in error or conflict, by id, and how many there are.
    public var devicesNeedingAttention: [DeviceNeedingAttention]
    public var devicesNeedingAttentionCount: Int
}

/// Filters of the device list; nil means "any".
public struct DeviceFilter: Sendable, Hashable {
    /// Device name contains (case-insensitive).
    public var search: String?
    public var platform: DevicePlatform?
    /// The device's overall report state.
    public var state: SettingState?
    /// An admin or agent tag (case-insensitive, whole tag).
    public var tag: String?
    /// Member of this group, directly or through nested groups (static or dynamic).
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
    /// Counts per state of each setting of the policy. Scans the policy's stored per-setting
    /// states (`device_policy_targets.setting_states`, a short string per device, parsed without
    /// JSON) in one streamed query: O(targeted devices), no configuration is decoded.
    public func policySettingsReport(tenant: String, policy id: String) async throws -> PolicySettingsReport {
        try await readSnapshot { sql in
            let policy = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            let counts = NIOLockedValueBox(SettingCounts())
            try await sql.raw("SELECT setting_states FROM device_policy_targets WHERE tenant_id = \(bind: tenant) AND policy_id = \(bind: id)").run { row in
                guard let text = try? row.decode(column: "setting_states", as: String.self) else { return }
                counts.withLockedValue { $0.add(row: text) }
            }
            var bySetting: [String: PolicyReport.Summary] = [:]
            for (stored, summary) in counts.withLockedValue({ $0.bySetting }) { bySetting[StoredSettingStates.unescaped(stored)] = summary }
            var settings: [PolicySettingsReport.Setting] = []
            for settingId in policy.settings.keys.sorted() {
                settings.append(.init(settingId: settingId, summary: bySetting.removeValue(forKey: settingId) ?? .init()))
            }
            for (settingId, summary) in bySetting.sorted(by: { $0.key < $1.key }) {
                settings.append(.init(settingId: settingId, summary: summary))
            }
            return PolicySettingsReport(policyId: id, revision: policy.revision, settings: settings)
        }
    }

    /// The devices where one setting of the policy is in `state` (any when nil), by name.
    public func policySettingDevices(tenant: String, policy id: String, setting settingId: String, state: SettingState? = nil,
                                     limit: Int = 100, after cursor: String? = nil) async throws -> PolicySettingDevices {
        let position = try cursor.map(ReportCursor.init(encoded:))
        let now = clock.nowMillis
        return try await readSnapshot { sql in
            _ = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            let rows = try await Self.policyDeviceRows(tenant: tenant, policy: id, state: state, search: nil, setting: settingId, limit: limit + 1, after: position,
                                                       staleBefore: try await Self.staleBefore(tenant: tenant, now: now, on: sql), on: sql)
            let page = Page(fetched: rows, limit: limit) { ReportCursor(name: $0.deviceName, id: $0.deviceId).encoded }
            return PolicySettingDevices(policyId: id, settingId: settingId, state: state, devices: page.items, nextCursor: page.nextCursor)
        }
    }

    /// When each policy or setting changed state on the device, newest first.
    public func deviceHistory(tenant: String, device id: String, limit: Int = 100, after cursor: String? = nil) async throws -> Page<DeviceHistoryEvent> {
        let position = try cursor.map(HistoryCursor.init(encoded:))
        return try await readSnapshot { sql in
            _ = try await Self.device(tenant: tenant, id: id, on: sql)
            var query: SQLQueryString = """
                SELECT id, at, kind, subject_id, subject_name, old_state, new_state, revision, reason FROM device_history
                WHERE device_id = \(bind: id) AND tenant_id = \(bind: tenant)
                """
            if let position {
                query += " AND (at, id) < (\(bind: position.at), \(bind: position.id))"
            }
            query += " ORDER BY at DESC, id DESC LIMIT \(bind: limit + 1)"
            let events = try await sql.raw(query).all().map { row in
                DeviceHistoryEvent(
                    id: try row.string("id"), at: Timestamp.date(try row.millis("at")),
                    kind: DeviceHistoryKind(rawValue: try row.string("kind")) ?? .policyState,
                    subjectId: try row.string("subject_id"), subjectName: try row.string("subject_name"),
                    oldState: try row.optionalString("old_state"), newState: try row.optionalString("new_state"),
                    revision: try row.optionalInt("revision"), reason: try row.string("reason"))
            }
            return Page(fetched: events, limit: limit) { HistoryCursor(at: Int64(($0.at.timeIntervalSince1970 * 1000).rounded()), id: $0.id).encoded }
        }
    }

    /// Devices by platform and state, policies by state, and the devices needing attention.
    public func tenantOverview(tenant: String, attentionLimit: Int = 20) async throws -> TenantOverview {
        let now = clock.nowMillis
        return try await readSnapshot { sql in
            let staleBefore = try await Self.staleBefore(tenant: tenant, now: now, on: sql)
            var overview = TenantOverview(devicesByPlatform: [:], devicesByState: [:], staleDevices: 0, retiredDevices: 0, policies: [],
                                          policiesWithErrors: 0, devicesNeedingAttention: [], devicesNeedingAttentionCount: 0)
            for row in try await sql.raw("""
                SELECT platform, report_state, enrollment_status, COUNT(*) AS n,
                    SUM(CASE WHEN COALESCE(last_check_in_at, enrolled_at) < \(bind: staleBefore) THEN 1 ELSE 0 END) AS stale
                FROM devices WHERE tenant_id = \(bind: tenant) GROUP BY platform, report_state, enrollment_status
                """).all() {
                let count = try row.int("n")
                if try row.string("enrollment_status") == EnrollmentStatus.retired.rawValue {
                    overview.retiredDevices += count
                    continue
                }
                overview.devicesByPlatform[try row.string("platform"), default: 0] += count
                let state = try row.string("report_state")
                overview.devicesByState[state, default: 0] += count
                if state == SettingState.error.rawValue || state == SettingState.conflict.rawValue { overview.devicesNeedingAttentionCount += count }
                overview.staleDevices += try row.int("stale")
            }
            var policies: [String: TenantOverview.PolicyStates] = [:]
            for row in try await sql.raw("SELECT id, name FROM policies WHERE tenant_id = \(bind: tenant)").all() {
                let policyId = try row.string("id")
                policies[policyId] = .init(policyId: policyId, policyName: try row.string("name"), summary: .init())
            }
            for row in try await sql.raw("""
                SELECT policy_id, state, COUNT(*) AS n FROM device_policy_targets WHERE tenant_id = \(bind: tenant) GROUP BY policy_id, state
                """).all() {
                let policyId = try row.string("policy_id")
                guard let state = SettingState(rawValue: try row.string("state")) else { continue }
                policies[policyId]?.summary.add(state, count: try row.int("n"))
            }
            overview.policies = policies.values.sorted { ($0.policyName, $0.policyId) < ($1.policyName, $1.policyId) }
            overview.policiesWithErrors = overview.policies.filter { $0.summary.error + $0.summary.conflict > 0 }.count
            overview.devicesNeedingAttention = try await sql.raw("""
                SELECT id, name, platform, report_state FROM devices
                WHERE tenant_id = \(bind: tenant) AND report_state IN ('error', 'conflict') AND enrollment_status <> 'retired'
                ORDER BY id LIMIT \(bind: attentionLimit)
                """).all().map { row in
                TenantOverview.DeviceNeedingAttention(
                    deviceId: try row.string("id"), deviceName: try row.string("name"),
                    platform: DevicePlatform(rawValue: try row.string("platform")) ?? .linux,
                    state: SettingState(rawValue: try row.string("report_state")) ?? .error)
            }
            return overview
        }
    }

    /// Devices by id, filtered (`DeviceFilter`); keyset paging on the id. Name, platform, state
    /// and tag are indexed or scanned in id order; a group filter walks the group's members
    /// (from the directory engine) in id order, 500 at a time.
    public func devices(tenant: String, filter: DeviceFilter, limit: Int, after cursor: String?) async throws -> Page<Device> {
        guard let groupId = filter.group else {
            return try await readSnapshot { sql in
                let rows = try await Self.filteredDevices(tenant: tenant, filter: filter, among: nil, after: cursor ?? "", limit: limit + 1, on: sql)
                let page = Page(fetched: rows, limit: limit, id: \.id)
                return Page(items: try await Self.withManagementState(page.items, tenant: tenant, now: clock.now, on: sql), nextCursor: page.nextCursor)
            }
        }
        return try await directory.read(tenant: tenant) { index in
            try await readSnapshot { sql in
                guard try await sql.raw("SELECT id FROM device_groups WHERE tenant_id = \(bind: tenant) AND id = \(bind: groupId)").first() != nil else {
                    throw DomainError.invalid("group: no such group: \(groupId)", field: "group")
                }
                let members = index.expandedMembers(of: groupId).filter { $0 > cursor ?? "" }.sorted()
                var found: [Device] = []
                for chunk in members.chunked() where found.count <= limit {
                    found += try await Self.filteredDevices(tenant: tenant, filter: filter, among: chunk, after: cursor ?? "", limit: limit + 1 - found.count, on: sql)
                }
                let page = Page(fetched: found, limit: limit, id: \.id)
                return Page(items: try await Self.withManagementState(page.items, tenant: tenant, now: clock.now, on: sql), nextCursor: page.nextCursor)
            }
        }
    }

    private static func filteredDevices(tenant: String, filter: DeviceFilter, among ids: [String]?, after cursor: String, limit: Int,
                                        on sql: any SQLDatabase) async throws -> [Device] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: deviceColumns), report_state FROM devices WHERE tenant_id = \(bind: tenant) AND id > \(bind: cursor)"
        if let ids { query += " AND id IN (\(binds: ids))" }
        if let platform = filter.platform { query += " AND platform = \(bind: platform.rawValue)" }
        if let state = filter.state { query += " AND report_state = \(bind: state.rawValue)" }
        if let search = filter.search { query += " AND LOWER(name) LIKE \(bind: "%" + escapeLike(search.lowercased()) + "%") ESCAPE '\\'" }
        if let tag = filter.tag {
            // Tags are stored as canonical JSON arrays: the quoted tag is a whole element.
            let pattern = "%" + escapeLike(try encodeJSON(tag.lowercased())) + "%"
            query += " AND (LOWER(tags) LIKE \(bind: pattern) ESCAPE '\\' OR LOWER(agent_tags) LIKE \(bind: pattern) ESCAPE '\\')"
        }
        query += " ORDER BY id LIMIT \(bind: limit)"
        return try await sql.raw(query).all().map { row in
            var device = try device(row)
            device.reportState = SettingState(rawValue: try row.string("report_state"))
            return device
        }
    }
}

/// Per setting id, the count of each state. Rows of one policy mostly list the same settings in
/// the same (sorted) order, so each id is first compared with the one at the same position in
/// the previous rows (a byte comparison) before falling back to a dictionary.
private struct SettingCounts: Sendable {
    private var ids: [[UInt8]] = []
    private var summaries: [PolicyReport.Summary] = []
    private var slots: [[UInt8]: Int] = [:]

    var bySetting: [Substring: PolicyReport.Summary] {
        var result: [Substring: PolicyReport.Summary] = [:]
        for (index, id) in ids.enumerated() { result[Substring(String(decoding: id, as: UTF8.self))] = summaries[index] }
        return result
    }

    /// One `memcmp` (`elementsEqual` here compiled to a byte loop whose speed changed with the
    /// module around it: BENCHMARKS.md, issue 18).
    private static func sameBytes(_ known: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let other = bytes.baseAddress, !bytes.isEmpty else { return known.isEmpty }
        return known.withUnsafeBufferPointer { $0.count == bytes.count && memcmp($0.baseAddress!, other, bytes.count) == 0 }
    }

    mutating func add(row text: String) {
        var text = text
        text.withUTF8 { bytes in
            let comma = UInt8(ascii: ",")
            let count = bytes.count
            guard count > 0, bytes[0] == comma else { return }
            var index = 1
            var expected = 0
            while index < count {
                guard let state = StoredSettingStates.state(bytes[index]) else { return }
                let start = index + 1
                var end = start
                while end < count, bytes[end] != comma { end += 1 }
                guard end < count else { return }
                let id = UnsafeBufferPointer(rebasing: bytes[start..<end])
                let slot: Int
                if expected < ids.count, ids[expected].count == id.count, Self.sameBytes(ids[expected], id) {
                    slot = expected
                } else if let known = slots[Array(id)] {
                    slot = known
                } else {
                    slot = ids.count
                    ids.append(Array(id))
                    slots[Array(id)] = slot
                    summaries.append(.init())
                }
                summaries[slot].add(state)
                expected = slot + 1
                index = end + 1
            }
        }
    }
}

/// Where a history page starts: the time and id of the last event of the previous page.
struct HistoryCursor: Sendable {
    var at: Int64
    var id: String

    init(at: Int64, id: String) {
        self.at = at
        self.id = id
    }

    init(encoded: String) throws {
        let parts = encoded.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, let at = Int64(parts[0]), !parts[1].isEmpty, parts[1].allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            throw DomainError.unknownCursor
        }
        self.at = at
        id = String(parts[1])
    }

    var encoded: String { "\(at)_\(id)" }
}

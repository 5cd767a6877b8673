import Foundation
import NIOConcurrencyHelpers
import PalisadeCore
import SQLKit

/// `GET /api/v1/reports/enrollment`: every device with its enrollment state and why.
public struct EnrollmentReport: Codable, Sendable {
    public struct Summary: Codable, Sendable, Hashable {
        public var enrolled = 0
        public var pendingReenrollment = 0
        public var stale = 0
        public var outOfScope = 0
        public var managedElsewhere = 0
        public var retired = 0

        mutating func count(_ state: EnrollmentState) {
            switch state {
            case .enrolled: enrolled += 1
            case .pendingReenrollment: pendingReenrollment += 1
            case .stale: stale += 1
            case .outOfScope: outOfScope += 1
            case .managedElsewhere: managedElsewhere += 1
            case .retired: retired += 1
            }
        }
    }

    public struct DeviceRow: Codable, Sendable, Hashable {
        public var deviceId: String
        public var deviceName: String
        public var platform: DevicePlatform
        public var state: EnrollmentState
        /// A sentence, e.g. "last seen 12 days ago; stale after 7 days".
        public var reason: String
        public var enrolledAt: Date
        public var lastCheckInAt: Date?
        /// Defender as the agent last read it: "Defender not installed", "Defender healthy", ...
        /// ("Defender not reported" before the agent has said).
        public var defender: String
    }

    /// Over every device of the tenant (whatever `state` filter the page uses).
    public var summary: Summary
    /// One page, by device id; only devices in `state` when the filter is given.
    public var devices: [DeviceRow]
    public var nextCursor: String?
}

/// An enrollment the server refused: a bad, expired, used-up or revoked token, a bad key, or a
/// bad proof of an existing device's key.
public struct RefusedEnrollment: Codable, Sendable, Hashable {
    public var id: String
    public var at: Date
    public var sourceAddress: String?
    /// What the request claimed, when it said (unverified).
    public var hostname: String?
    public var platform: String?
    public var hardwareId: String?
    public var enrollmentTokenId: String?
    /// The error code the agent was answered with, e.g. `enrollment_token_expired`.
    public var code: String
    public var reason: String
}

extension PalisadeStore {
    /// Refused attempts are kept this many days, and at most this many per tenant (the
    /// newest): whatever an attacker sends, the table stays bounded.
    public static let refusedEnrollmentRetentionDays = 30
    public static let refusedEnrollmentLimitPerTenant = 10_000
    /// Claimed texts are cut to this length before they are stored.
    static let refusedEnrollmentTextLimit = 200

    /// The enrollment report: a summary over every device, and one page of devices (by id,
    /// after `cursor`), optionally only those in `state`. One streamed query over one snapshot.
    public func enrollmentReport(tenant: String, state: EnrollmentState? = nil, limit: Int = 100, after cursor: String? = nil) async throws -> EnrollmentReport {
        let now = clock.now
        return try await readSnapshot { sql in
            let (scope, settings) = try await TenantSettingsRepository.settings(tenant: tenant, on: sql)
            let accumulator = NIOLockedValueBox(EnrollmentReportAccumulator(limit: limit, after: cursor ?? "", state: state))
            try await sql.raw("SELECT \(unsafeRaw: Self.enrollmentColumns) FROM devices WHERE tenant_id = \(bind: tenant) ORDER BY id").run { row in
                do {
                    // Every device is counted; only those of the page get their reason written.
                    let id = try row.string("id")
                    let (platform, facts) = try Self.enrollmentFacts(row, id: id, scope: scope)
                    let state = facts.state(scope: scope, staleAfterDays: settings.staleAfterDays, now: now, withReason: false).state
                    guard accumulator.withLockedValue({ $0.count(id, state) }) else { return }
                    let reason = facts.state(scope: scope, staleAfterDays: settings.staleAfterDays, now: now).reason
                    let device = EnrollmentReport.DeviceRow(deviceId: id, deviceName: try row.string("name"), platform: platform, state: state, reason: reason,
                                                            enrolledAt: facts.enrolledAt, lastCheckInAt: facts.lastCheckInAt, defender: try Self.enrollmentDefender(row))
                    accumulator.withLockedValue { $0.page.append(device) }
                } catch {
                    accumulator.withLockedValue { $0.failure = $0.failure ?? error }
                }
            }
            let result = accumulator.withLockedValue { $0 }
            if let failure = result.failure { throw failure }
            return EnrollmentReport(summary: result.summary, devices: result.page, nextCursor: result.hasMore ? result.page.last?.deviceId : nil)
        }
    }

    /// Rows of the enrollment report for an export: up to `limit` devices after `after` by id
    /// (before the `state` filter), and the last id read, to continue from (nil at the end).
    /// Each call is one short query: an export of any size holds one batch in memory.
    public func enrollmentReportBatch(tenant: String, state: EnrollmentState? = nil, after: String, limit: Int = 1_000) async throws -> (rows: [EnrollmentReport.DeviceRow], last: String?) {
        let now = clock.now
        return try await readSnapshot { sql in
            let (scope, settings) = try await TenantSettingsRepository.settings(tenant: tenant, on: sql)
            let rows = try await sql.raw("""
                SELECT \(unsafeRaw: Self.enrollmentColumns) FROM devices WHERE tenant_id = \(bind: tenant) AND id > \(bind: after) ORDER BY id LIMIT \(bind: limit)
                """).all()
            let devices = try rows.map { try Self.enrollmentRow($0, scope: scope, staleAfterDays: settings.staleAfterDays, now: now) }
            return (devices.filter { state == nil || $0.state == state }, rows.count == limit ? devices.last?.deviceId : nil)
        }
    }

    static let enrollmentColumns = "id, name, platform, managed_by, tags, enrollment_status, retired_at, enrolled_at, last_check_in_at, pending_since, pending_source, defender, defender_installed"

    static func enrollmentDefender(_ row: any SQLRow) throws -> String {
        let (status, installed) = try defenderColumns(row)
        return defenderSummary(status, installed: installed) ?? "Defender not reported"
    }

    static func enrollmentRow(_ row: any SQLRow, scope: EnforcementScope, staleAfterDays: Int, now: Date) throws -> EnrollmentReport.DeviceRow {
        let id = try row.string("id")
        let (platform, facts) = try enrollmentFacts(row, id: id, scope: scope)
        let (state, reason) = facts.state(scope: scope, staleAfterDays: staleAfterDays, now: now)
        return EnrollmentReport.DeviceRow(deviceId: id, deviceName: try row.string("name"), platform: platform, state: state, reason: reason,
                                          enrolledAt: facts.enrolledAt, lastCheckInAt: facts.lastCheckInAt, defender: try enrollmentDefender(row))
    }

    /// Tags are read only when the scope looks at them (a tagged pilot): decoding them is most
    /// of the cost of a row.
    static func enrollmentFacts(_ row: any SQLRow, id: String, scope: EnforcementScope) throws -> (DevicePlatform, EnrollmentFacts) {
        guard let platform = DevicePlatform(rawValue: try row.string("platform")),
              let managedBy = ManagementChannel(rawValue: try row.string("managed_by")) else {
            throw StoreError.corrupt("device \(id) has an unknown platform or management channel")
        }
        let facts = EnrollmentFacts(
            platform: platform, managedBy: managedBy, tags: scope.scope == .tagged ? try row.json("tags", as: [String].self) : [],
            isRetired: try row.string("enrollment_status") == EnrollmentStatus.retired.rawValue,
            retiredAt: Timestamp.optionalDate(try row.optionalMillis("retired_at")), enrolledAt: Timestamp.date(try row.millis("enrolled_at")),
            lastCheckInAt: Timestamp.optionalDate(try row.optionalMillis("last_check_in_at")),
            pendingSince: Timestamp.optionalDate(try row.optionalMillis("pending_since")), pendingSource: try row.optionalString("pending_source"))
        return (platform, facts)
    }

    /// Refused enrollment attempts, newest first. Attempts whose token named no tenant (an
    /// unknown token) are shown too when the server has a single tenant; on a server with
    /// several they belong to no tenant and are shown to none.
    public func refusedEnrollments(tenant: String, limit: Int = 100, after cursor: String? = nil) async throws -> Page<RefusedEnrollment> {
        let position = try cursor.map(ReportCursor.init(encoded:))
        let since = clock.nowMillis - Int64(Self.refusedEnrollmentRetentionDays) * 86_400_000
        return try await readSnapshot { sql in
            let tenants = try await sql.raw("SELECT COUNT(*) AS n FROM tenants").first()?.decode(column: "n", as: Int.self) ?? 0
            let owners = tenants == 1 ? [tenant, ""] : [tenant]
            var conditions: SQLQueryString = "tenant_id IN (\(binds: owners)) AND at >= \(bind: since)"
            if let position {
                guard let at = Int64(position.name) else { throw DomainError.unknownCursor }
                conditions += " AND (at < \(bind: at) OR (at = \(bind: at) AND id < \(bind: position.id)))"
            }
            let rows = try await sql.raw("""
                SELECT id, at, source_address, hostname, platform, hardware_id, enrollment_token_id, code, reason FROM refused_enrollments
                WHERE \(conditions) ORDER BY at DESC, id DESC LIMIT \(bind: limit + 1)
                """).all()
            let items = try rows.prefix(limit).map { row in
                RefusedEnrollment(
                    id: try row.string("id"), at: Timestamp.date(try row.millis("at")), sourceAddress: try row.optionalString("source_address"),
                    hostname: try row.optionalString("hostname"), platform: try row.optionalString("platform"), hardwareId: try row.optionalString("hardware_id"),
                    enrollmentTokenId: try row.optionalString("enrollment_token_id"), code: try row.string("code"), reason: try row.string("reason"))
            }
            let next = rows.count > limit ? items.last.map { ReportCursor(name: String(Int64(($0.at.timeIntervalSince1970 * 1000).rounded())), id: $0.id).encoded } : nil
            return Page(items: items, nextCursor: next)
        }
    }

    /// Records a refused enrollment, attributed to the tenant of its token when the token is
    /// known (whatever else was wrong with it). Purges attempts older than the retention and
    /// beyond the tenant's limit in the same transaction, so the table never grows unbounded.
    public func recordRefusedEnrollment(enrollmentToken: String?, sourceAddress: String?, inventory: DeviceProtocol.Inventory?, code: String, reason: String) async throws {
        let now = clock.nowMillis
        let tokenHash = enrollmentToken.map { Digest.sha256Hex(Data($0.utf8)) }
        @Sendable func cut(_ text: String?) -> String? { text.map { String($0.prefix(Self.refusedEnrollmentTextLimit)) } }
        try await backend.write(lockKey: "refused-enrollments") { sql in
            var tenant = ""
            var tokenId: String?
            if let tokenHash, let row = try await sql.raw("SELECT id, tenant_id FROM enrollment_tokens WHERE token_hash = \(bind: tokenHash)").first() {
                tenant = try row.string("tenant_id")
                tokenId = try row.string("id")
            }
            try await sql.raw("""
                INSERT INTO refused_enrollments (id, tenant_id, at, source_address, hostname, platform, hardware_id, enrollment_token_id, code, reason)
                VALUES (\(bind: Identifier.make()), \(bind: tenant), \(bind: now), \(bind: cut(sourceAddress)), \(bind: cut(inventory?.hostname)),
                    \(bind: inventory?.platform.rawValue), \(bind: cut(inventory?.hardwareId)), \(bind: tokenId), \(bind: code), \(bind: cut(reason) ?? ""))
                """).run()
            try await sql.raw("DELETE FROM refused_enrollments WHERE at < \(bind: now - Int64(Self.refusedEnrollmentRetentionDays) * 86_400_000)").run()
            let count = try await sql.raw("SELECT COUNT(*) AS n FROM refused_enrollments WHERE tenant_id = \(bind: tenant)").first()?.decode(column: "n", as: Int.self) ?? 0
            if count > Self.refusedEnrollmentLimitPerTenant {
                try await sql.raw("""
                    DELETE FROM refused_enrollments WHERE id IN (
                        SELECT id FROM refused_enrollments WHERE tenant_id = \(bind: tenant) ORDER BY at, id LIMIT \(bind: count - Self.refusedEnrollmentLimitPerTenant))
                    """).run()
            }
        }
    }
}

/// Counts every device of the enrollment report and keeps one page of them.
private struct EnrollmentReportAccumulator: Sendable {
    let limit: Int
    let after: String
    let state: EnrollmentState?
    var summary = EnrollmentReport.Summary()
    var page: [EnrollmentReport.DeviceRow] = []
    var hasMore = false
    var failure: (any Error)?

    init(limit: Int, after: String, state: EnrollmentState?) {
        self.limit = limit
        self.after = after
        self.state = state
    }

    /// Counts the device; true when the page wants it (the caller then appends it).
    mutating func count(_ deviceId: String, _ deviceState: EnrollmentState) -> Bool {
        summary.count(deviceState)
        guard deviceId > after, state == nil || deviceState == state else { return false }
        if page.count < limit { return true }
        hasMore = true
        return false
    }
}

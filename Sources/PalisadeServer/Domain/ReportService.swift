import Foundation
import PalisadeCore

/// What admins read about the fleet: the overview, policy and setting reports, device
/// history, drift, the enrollment report and the audit log. Read-only; the queries are the
/// store's report queries, and both front ends reach them through here.
public struct ReportService: Sendable {
    let store: PalisadeStore

    public init(store: PalisadeStore) {
        self.store = store
    }

    public func tenantOverview(tenant: String, attentionLimit: Int = 20) async throws -> TenantOverview {
        try await store.tenantOverview(tenant: tenant, attentionLimit: attentionLimit)
    }

    public func policyReport(tenant: String, policy id: String, state: SettingState? = nil, search: String? = nil,
                             limit: Int = 100, after cursor: String? = nil) async throws -> PolicyReport {
        try await store.policyReport(tenant: tenant, policy: id, state: state, search: search, limit: limit, after: cursor)
    }

    public func policyReportDevices(tenant: String, policy id: String, state: SettingState? = nil, search: String? = nil,
                                    limit: Int = 1000, after cursor: String? = nil) async throws -> Page<PolicyReport.DeviceRow> {
        try await store.policyReportDevices(tenant: tenant, policy: id, state: state, search: search, limit: limit, after: cursor)
    }

    public func policySettingsReport(tenant: String, policy id: String) async throws -> PolicySettingsReport {
        try await store.policySettingsReport(tenant: tenant, policy: id)
    }

    public func policySettingDevices(tenant: String, policy id: String, setting settingId: String, state: SettingState? = nil,
                                     limit: Int = 100, after cursor: String? = nil) async throws -> PolicySettingDevices {
        try await store.policySettingDevices(tenant: tenant, policy: id, setting: settingId, state: state, limit: limit, after: cursor)
    }

    public func deviceHistory(tenant: String, device id: String, limit: Int = 100, after cursor: String? = nil) async throws -> Page<DeviceHistoryEvent> {
        try await store.deviceHistory(tenant: tenant, device: id, limit: limit, after: cursor)
    }

    public func driftEvents(tenant: String, device: String? = nil, limit: Int = 100, after cursor: String? = nil) async throws -> Page<DriftEventRecord> {
        try await store.driftEvents(tenant: tenant, device: device, limit: limit, after: cursor)
    }

    public func enrollmentReport(tenant: String, state: EnrollmentState? = nil, limit: Int = 100, after cursor: String? = nil) async throws -> EnrollmentReport {
        try await store.enrollmentReport(tenant: tenant, state: state, limit: limit, after: cursor)
    }

    public func enrollmentReportBatch(tenant: String, state: EnrollmentState? = nil, after: String, limit: Int = 1_000) async throws -> (rows: [EnrollmentReport.DeviceRow], last: String?) {
        try await store.enrollmentReportBatch(tenant: tenant, state: state, after: after, limit: limit)
    }

    public func refusedEnrollments(tenant: String, limit: Int = 100, after cursor: String? = nil) async throws -> Page<RefusedEnrollment> {
        try await store.refusedEnrollments(tenant: tenant, limit: limit, after: cursor)
    }

    public func auditEvents(tenant: String, query: AuditQuery, limit: Int, after cursor: String?) async throws -> Page<AuditEvent> {
        try await store.auditEvents(tenant: tenant, query: query, limit: limit, after: cursor)
    }
}

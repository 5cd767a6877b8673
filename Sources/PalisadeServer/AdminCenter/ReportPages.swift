import Foundation
import Hummingbird
import PalisadeCore

/// The overview and the reports, each with export buttons (the export is the admin API's own
/// streamed CSV or JSON, reached with the session cookie).
extension AdminCenter {
    func addOverviewPages(to pages: PageRoutes) {
        pages.get("", .readReports) { page in try await overviewPage(page) }
    }

    func addReportPages(to pages: PageRoutes) {
        pages.get("reports", .readReports) { page in try await reportsPage(page) }
        pages.get("policies/:id/report", .readReports) { page in try await policyReportPage(page) }
        pages.get("reports/drift", .readReports) { page in
            let events = try await devices.driftEvents(tenant: page.tenant, device: page.query("device"), limit: 100, after: page.query("cursor"))
            return page.render(DriftReportPage(
                events: events.items.map(Self.driftRow), empty: events.items.isEmpty,
                next: events.nextCursor.map { "/reports/drift?cursor=\($0)" }), title: "Drift report")
        }
    }

    func overviewPage(_ page: SignedInPage) async throws -> Response {
        let overview = try await reports.tenantOverview(tenant: page.tenant, attentionLimit: 20)
        let platforms = DevicePlatform.allCases.map { ($0.title, overview.devicesByPlatform[$0.rawValue] ?? 0) }
        let states = SettingState.allCases.map { ($0.rawValue, overview.devicesByState[$0.rawValue] ?? 0) }
        let devices = platforms.reduce(0) { $0 + $1.1 }
        return page.render(OverviewPage(
            devices: devices, stale: overview.staleDevices, retired: overview.retiredDevices,
            platformChart: Chart.bars(platforms, label: "Enrolled devices by platform"),
            platforms: platforms.map { .init(label: $0.0, count: $0.1) },
            stateChart: Chart.stackedBar(states, label: "Devices by state"),
            states: SettingState.allCases.map { .init(state: $0.rawValue, label: $0.title, count: overview.devicesByState[$0.rawValue] ?? 0) },
            policies: overview.policies.map { .init(id: $0.policyId, name: $0.policyName, summary: SummaryData($0.summary)) },
            noPolicies: overview.policies.isEmpty,
            policiesWithErrors: overview.policiesWithErrors,
            attention: overview.devicesNeedingAttention.map { device in
                .init(id: device.deviceId, name: device.deviceName, platform: device.platform.title, state: device.state.rawValue, stateTitle: device.state.title)
            },
            attentionCount: overview.devicesNeedingAttentionCount,
            noAttention: overview.devicesNeedingAttention.isEmpty,
            moreAttention: overview.devicesNeedingAttentionCount > overview.devicesNeedingAttention.count), title: "Overview")
    }

    func reportsPage(_ page: SignedInPage) async throws -> Response {
        let policies = try await allPolicies(tenant: page.tenant)
        return page.render(ReportsPage(
            policies: policies.sorted { $0.name.localizedCaseInsensitiveCompare($1.name) == .orderedAscending }.map { policy in
                .init(id: policy.id, name: policy.name, platform: policy.platform.title, template: policy.template.title)
            },
            noPolicies: policies.isEmpty), title: "Reports")
    }

    func policyReportPage(_ page: SignedInPage) async throws -> Response {
        let id = try page.parameter("id")
        let policy = try await policies.policy(tenant: page.tenant, id: id)
        let state = try page.query("state").map { text in
            guard let state = SettingState(rawValue: text) else { throw PalisadeError.invalid("state must be one of \(SettingState.allCases.map(\.rawValue).joined(separator: ", "))", field: "state") }
            return state
        }
        let search = page.query("search")
        let report = try await reports.policyReport(tenant: page.tenant, policy: id, state: state, search: search, limit: 100, after: page.query("cursor"))
        let filters = Show.query([("state", state?.rawValue), ("search", search)])
        let settings = try await reports.policySettingsReport(tenant: page.tenant, policy: id)
        return page.render(PolicyReportPage(
            policy: .init(id: policy.id, name: policy.name, revision: policy.revision),
            summary: SummaryData(report.summary),
            devices: report.devices.map { row in
                .init(id: row.deviceId, name: row.deviceName, state: row.state.rawValue, stateTitle: row.state.title, revision: row.revision,
                      reported: Show.time(row.lastReportAt), stale: row.stale)
            },
            noDevices: report.devices.isEmpty,
            states: SettingState.allCases.map { Choice(value: $0.rawValue, label: $0.title, selected: $0 == state) },
            search: search ?? "", filtered: state != nil || search != nil,
            next: report.nextCursor.map { "/policies/\(id)/report?" + (filters.isEmpty ? "" : filters + "&") + "cursor=\($0)" },
            csv: "/api/v1/policies/\(id)/report?format=csv" + (filters.isEmpty ? "" : "&" + filters),
            json: "/api/v1/policies/\(id)/report?format=json" + (filters.isEmpty ? "" : "&" + filters),
            settings: settings.settings.map { setting in Self.settingRow(setting, policy: id) }), title: "Report: \(policy.name)")
    }

    static func settingRow(_ setting: PolicySettingsReport.Setting, policy id: String) -> PolicyReportPage.SettingRow {
        let link: String? = setting.summary.error > 0
            ? "/api/v1/policies/\(id)/settings-report?" + Show.query([("settingId", setting.settingId), ("state", "error"), ("format", "csv")]) : nil
        return PolicyReportPage.SettingRow(
            id: setting.settingId, succeeded: setting.summary.succeeded, error: setting.summary.error, conflict: setting.summary.conflict,
            pending: setting.summary.pending, notApplicable: setting.summary.notApplicable, errorLink: link)
    }

    /// A change made on the device behind the agent's back, and what the agent put back.
    static func driftRow(_ event: DriftEventRecord) -> DriftRow {
        DriftRow(
            deviceId: event.deviceId, deviceName: event.deviceName, setting: event.settingId,
            found: event.found.map(Show.json) ?? "(missing)", restored: event.restored.map(Show.json) ?? "(removed)",
            detail: event.detail, at: Show.time(event.detectedAt))
    }
}

/// The overview (`overview.mustache`): devices by platform and state, devices needing
/// attention, policy states.
struct OverviewPage: PageModel {
    static let template = "overview"

    struct PlatformCount: Sendable {
        let label: String
        let count: Int
    }

    struct StateCount: Sendable {
        let state: String
        let label: String
        let count: Int
    }

    struct PolicyState: Sendable {
        let id: String
        let name: String
        let summary: SummaryData
    }

    struct Device: Sendable {
        let id: String
        let name: String
        let platform: String
        let state: String
        let stateTitle: String
    }

    var csrf = ""
    /// Enrolled devices.
    let devices: Int
    let stale: Int
    let retired: Int
    /// SVG (`Chart`), inserted unescaped.
    let platformChart: String
    let platforms: [PlatformCount]
    let stateChart: String
    let states: [StateCount]
    let policies: [PolicyState]
    let noPolicies: Bool
    let policiesWithErrors: Int
    let attention: [Device]
    let attentionCount: Int
    let noAttention: Bool
    /// More devices need attention than the table lists.
    let moreAttention: Bool
}

/// The reports (`reports.mustache`): the tenant's, and one per policy.
struct ReportsPage: PageModel {
    static let template = "reports"

    struct Policy: Sendable {
        let id: String
        let name: String
        let platform: String
        let template: String
    }

    var csrf = ""
    let policies: [Policy]
    let noPolicies: Bool
}

/// A policy's report (`policy-report.mustache`): its state on each device, and per setting.
struct PolicyReportPage: PageModel {
    static let template = "policy-report"

    struct Policy: Sendable {
        let id: String
        let name: String
        let revision: Int
    }

    struct Device: Sendable {
        let id: String
        let name: String
        let state: String
        let stateTitle: String
        let revision: Int
        let reported: String
        let stale: Bool
    }

    struct SettingRow: Sendable {
        let id: String
        let succeeded: Int
        let error: Int
        let conflict: Int
        let pending: Int
        let notApplicable: Int
        /// The devices in error for this setting, as CSV; only when there are some.
        let errorLink: String?
    }

    var csrf = ""
    let policy: Policy
    let summary: SummaryData
    let devices: [Device]
    let noDevices: Bool
    let states: [Choice]
    let search: String
    let filtered: Bool
    let next: String?
    /// The export links, with the filters.
    let csv: String
    let json: String
    let settings: [SettingRow]
}

/// The drift report (`drift-report.mustache`).
struct DriftReportPage: PageModel {
    static let template = "drift-report"
    var csrf = ""
    let events: [DriftRow]
    let empty: Bool
    let next: String?
}

/// A drift event (the drift report, a device's page).
struct DriftRow: Sendable {
    let deviceId: String
    let deviceName: String
    let setting: String
    let found: String
    let restored: String
    let detail: String?
    let at: String
}

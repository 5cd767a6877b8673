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
            return page.render("drift-report", title: "Drift report", [
                "events": events.items.map(Self.driftRow), "empty": events.items.isEmpty,
                "next": events.nextCursor.map { "/reports/drift?cursor=\($0)" } as Any,
            ])
        }
    }

    func overviewPage(_ page: SignedInPage) async throws -> Response {
        let overview = try await reports.tenantOverview(tenant: page.tenant, attentionLimit: 20)
        let platforms = DevicePlatform.allCases.map { ($0.title, overview.devicesByPlatform[$0.rawValue] ?? 0) }
        let states = SettingState.allCases.map { ($0.rawValue, overview.devicesByState[$0.rawValue] ?? 0) }
        let devices = platforms.reduce(0) { $0 + $1.1 }
        return page.render("overview", title: "Overview", [
            "devices": devices, "stale": overview.staleDevices, "retired": overview.retiredDevices,
            "platformChart": Chart.bars(platforms, label: "Enrolled devices by platform"),
            "platforms": platforms.map { ["label": $0.0, "count": $0.1] },
            "stateChart": Chart.stackedBar(states, label: "Devices by state"),
            "states": SettingState.allCases.map { ["state": $0.rawValue, "label": $0.title, "count": overview.devicesByState[$0.rawValue] ?? 0] },
            "policies": overview.policies.map { policy in
                ["id": policy.policyId, "name": policy.policyName, "summary": Self.summaryData(policy.summary)] as [String: Any]
            },
            "noPolicies": overview.policies.isEmpty,
            "policiesWithErrors": overview.policiesWithErrors,
            "attention": overview.devicesNeedingAttention.map { device in
                ["id": device.deviceId, "name": device.deviceName, "platform": device.platform.title, "state": device.state.rawValue, "stateTitle": device.state.title]
            },
            "attentionCount": overview.devicesNeedingAttentionCount,
            "noAttention": overview.devicesNeedingAttention.isEmpty,
            "moreAttention": overview.devicesNeedingAttentionCount > overview.devicesNeedingAttention.count,
        ])
    }

    func reportsPage(_ page: SignedInPage) async throws -> Response {
        let policies = try await allPolicies(tenant: page.tenant)
        return page.render("reports", title: "Reports", [
            "policies": policies.sorted { $0.name.localizedCaseInsensitiveCompare($1.name) == .orderedAscending }.map { policy in
                ["id": policy.id, "name": policy.name, "platform": policy.platform.title, "template": policy.template.title]
            },
            "noPolicies": policies.isEmpty,
        ])
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
        return page.render("policy-report", title: "Report: \(policy.name)", [
            "policy": ["id": policy.id, "name": policy.name, "revision": policy.revision],
            "summary": Self.summaryData(report.summary),
            "devices": report.devices.map { row in
                ["id": row.deviceId, "name": row.deviceName, "state": row.state.rawValue, "stateTitle": row.state.title, "revision": row.revision,
                 "reported": Show.time(row.lastReportAt), "stale": row.stale] as [String: Any]
            },
            "noDevices": report.devices.isEmpty,
            "states": SettingState.allCases.map { ["value": $0.rawValue, "label": $0.title, "selected": $0 == state] },
            "search": search ?? "", "filtered": state != nil || search != nil,
            "next": report.nextCursor.map { "/policies/\(id)/report?" + (filters.isEmpty ? "" : filters + "&") + "cursor=\($0)" } as Any,
            "csv": "/api/v1/policies/\(id)/report?format=csv" + (filters.isEmpty ? "" : "&" + filters),
            "json": "/api/v1/policies/\(id)/report?format=json" + (filters.isEmpty ? "" : "&" + filters),
            "settings": settings.settings.map { setting in Self.settingRow(setting, policy: id) },
        ])
    }

    static func settingRow(_ setting: PolicySettingsReport.Setting, policy id: String) -> [String: Any] {
        let link: String? = setting.summary.error > 0
            ? "/api/v1/policies/\(id)/settings-report?" + Show.query([("settingId", setting.settingId), ("state", "error"), ("format", "csv")]) : nil
        return [
            "id": setting.settingId, "succeeded": setting.summary.succeeded, "error": setting.summary.error, "conflict": setting.summary.conflict,
            "pending": setting.summary.pending, "notApplicable": setting.summary.notApplicable, "errorLink": link as Any,
        ]
    }

    /// A change made on the device behind the agent's back, and what the agent put back.
    static func driftRow(_ event: DriftEventRecord) -> [String: Any] {
        [
            "deviceId": event.deviceId, "deviceName": event.deviceName, "setting": event.settingId,
            "found": event.found.map(Show.json) ?? "(missing)", "restored": event.restored.map(Show.json) ?? "(removed)",
            "detail": event.detail as Any, "at": Show.time(event.detectedAt),
        ]
    }
}

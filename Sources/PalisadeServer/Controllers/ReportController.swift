import Foundation
import Hummingbird
import PalisadeCore

/// Reports: `/api/v1/policies/{id}/report`, `.../settings-report`, `/api/v1/devices/{id}/history`,
/// `/api/v1/reports/overview`. Read from the stored states; exports stream every matching row.
struct ReportController {
    typealias Context = AdminRequestContext
    let reports: ReportService

    /// Rows per query while exporting.
    static let exportPageSize = 1000

    func addRoutes(to routes: AdminRoutes) {
        routes.get("policies/:id/report", .readReports, use: policyReport)
        routes.get("policies/:id/settings-report", .readReports, use: settingsReport)
        routes.get("devices/:id/history", .readReports, use: deviceHistory)
        routes.get("reports/overview", .readReports, use: overview)
    }

    static var deviceColumns: [String] { ReportExport.policyDeviceColumns }

    static func deviceCells(_ row: PolicyReport.DeviceRow) -> [String] { ReportExport.policyDeviceCells(row) }

    @Sendable func policyReport(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        let state = try ReportQuery.state(request)
        let search = try ReportQuery.text(request, "search")
        let page = try PageRequest(request)
        if let format = try ExportFormat.requested(request) {
            let reports = reports
            return try await ReportExport.stream(format, filename: "policy-\(id)-report", columns: Self.deviceColumns, cells: Self.deviceCells) { cursor in
                try await reports.policyReportDevices(tenant: tenant, policy: id, state: state, search: search, limit: Self.exportPageSize, after: cursor)
            }
        }
        return try JSONBody.response(try await reports.policyReport(tenant: tenant, policy: id, state: state, search: search, limit: page.limit, after: page.cursor))
    }

    @Sendable func settingsReport(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        let state = try ReportQuery.state(request)
        let settingId = try ReportQuery.text(request, "settingId")
        let page = try PageRequest(request)
        let format = try ExportFormat.requested(request)
        guard let settingId else {
            if state != nil { throw PalisadeError.invalid("state needs settingId: the devices in one state of one setting", field: "state") }
            let report = try await reports.policySettingsReport(tenant: tenant, policy: id)
            guard let format else { return try JSONBody.response(report) }
            let summaryColumns = SettingState.allCases.map(\.rawValue)
            return try ReportExport.whole(format, filename: "policy-\(id)-settings", columns: ["settingId"] + summaryColumns, rows: report.settings.map { setting in
                [setting.settingId] + SettingState.allCases.map { String(setting.summary.count($0)) }
            }, json: report.settings)
        }
        if let format {
            let reports = reports
            return try await ReportExport.stream(format, filename: "policy-\(id)-setting", columns: ["settingId"] + Self.deviceColumns, cells: { [settingId] + Self.deviceCells($0) }) { cursor in
                let devices = try await reports.policySettingDevices(tenant: tenant, policy: id, setting: settingId, state: state, limit: Self.exportPageSize, after: cursor)
                return Page(items: devices.devices, nextCursor: devices.nextCursor)
            }
        }
        return try JSONBody.response(try await reports.policySettingDevices(tenant: tenant, policy: id, setting: settingId, state: state, limit: page.limit, after: page.cursor))
    }

    @Sendable func deviceHistory(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        let page = try PageRequest(request)
        if let format = try ExportFormat.requested(request) {
            let reports = reports
            return try await ReportExport.stream(format, filename: "device-\(id)-history",
                                                 columns: ["at", "kind", "subjectId", "subjectName", "oldState", "newState", "revision", "reason"],
                                                 cells: { event in
                                                     [CSV.timestamp(event.at), event.kind.rawValue, event.subjectId, event.subjectName, event.oldState ?? "", event.newState ?? "",
                                                      event.revision.map(String.init) ?? "", event.reason]
                                                 }) { cursor in
                try await reports.deviceHistory(tenant: tenant, device: id, limit: Self.exportPageSize, after: cursor)
            }
        }
        return try await reports.deviceHistory(tenant: tenant, device: id, limit: page.limit, after: page.cursor).response(named: "events")
    }

    @Sendable func overview(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let limit = request.uri.queryParameters["limit"] == nil ? 20 : try PageRequest(request).limit
        return try JSONBody.response(try await reports.tenantOverview(tenant: tenant, attentionLimit: limit))
    }
}

extension PolicyReport.Summary {
    func count(_ state: SettingState) -> Int {
        switch state {
        case .succeeded: succeeded
        case .error: error
        case .conflict: conflict
        case .pending: pending
        case .notApplicable: notApplicable
        }
    }
}

import Foundation
import Hummingbird
import PalisadeCore

/// The tenant drift report: `GET /api/v1/reports/drift[?device=ID]`, newest first, paged.
struct DriftReportController {
    typealias Context = AdminRequestContext
    let reports: ReportService

    func addRoutes(to routes: AdminRoutes) {
        routes.get("reports/drift", .readReports, use: list)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        let device = request.uri.queryParameters["device"].map(String.init)
        if let device, device.isEmpty || device.count > 100 {
            throw PalisadeError.invalid("device must be a device id (1 to 100 characters)", field: "device")
        }
        return try await reports.driftEvents(tenant: context.tenant, device: device, limit: page.limit, after: page.cursor).response(named: "events")
    }
}

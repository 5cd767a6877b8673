import Foundation
import Hummingbird
import PalisadeCore

/// The audit log, read-only and newest first: `GET /api/v1/audit?actor=&action=&targetId=&since=&until=`.
/// No route edits or deletes an entry.
struct AuditController {
    typealias Context = AdminRequestContext
    let reports: ReportService

    func addRoutes(to routes: AdminRoutes) {
        routes.get("audit", .readAudit, use: list)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        let parameters = request.uri.queryParameters
        func time(_ name: Substring) throws -> Date? {
            guard let text = parameters[name].map(String.init) else { return nil }
            guard let date = try? Date(text, strategy: .iso8601) else {
                throw PalisadeError.invalid("\(name) must be an ISO 8601 time such as 2026-11-26T10:00:00Z, got \"\(text)\"", field: String(name))
            }
            return date
        }
        let query = AuditQuery(actor: parameters["actor"].map(String.init), action: parameters["action"].map(String.init),
                               targetId: parameters["targetId"].map(String.init), since: try time("since"), until: try time("until"))
        return try await reports.auditEvents(tenant: context.tenant, query: query, limit: page.limit, after: page.cursor).response(named: "events")
    }
}

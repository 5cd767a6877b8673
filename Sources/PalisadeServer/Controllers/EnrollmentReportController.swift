import Foundation
import Hummingbird
import PalisadeCore

/// The enrollment report: `/api/v1/reports/enrollment` (every device with its enrollment state
/// and why) and `/api/v1/reports/enrollment/refused` (refused enrollment attempts, newest first).
struct EnrollmentReportController {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func addRoutes(to routes: AdminRoutes) {
        routes.get("reports/enrollment", .readReports, use: report)
        routes.get("reports/enrollment/refused", .readReports, use: refused)
    }

    @Sendable func report(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        let state = try request.uri.queryParameters["state"].map { text in
            guard let state = EnrollmentState(rawValue: String(text)) else {
                throw PalisadeError.invalid("state must be one of \(EnrollmentState.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"", field: "state")
            }
            return state
        }
        return try JSONBody.response(try await store.enrollmentReport(tenant: try context.requireTenant(), state: state, limit: page.limit, after: page.cursor))
    }

    @Sendable func refused(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await store.refusedEnrollments(tenant: try context.requireTenant(), limit: page.limit, after: page.cursor).response(named: "attempts")
    }
}

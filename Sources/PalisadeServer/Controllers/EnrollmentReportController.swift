import Foundation
import Hummingbird
import NIOCore
import PalisadeCore

/// The enrollment report: `/api/v1/reports/enrollment` (every device with its enrollment state
/// and why) and `/api/v1/reports/enrollment/refused` (refused enrollment attempts, newest first).
struct EnrollmentReportController {
    typealias Context = AdminRequestContext
    let reports: ReportService

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
        let tenant = context.tenant
        if try StreamedCSV.wanted(request) {
            return StreamedCSV.response(filename: "enrollment-report.csv", header: ["deviceId", "deviceName", "platform", "state", "reason", "defender", "enrolledAt", "lastCheckInAt"]) { after in
                let batch = try await reports.enrollmentReportBatch(tenant: tenant, state: state, after: after ?? "")
                let lines = batch.rows.map { row in
                    [row.deviceId, row.deviceName, row.platform.rawValue, row.state.rawValue, row.reason, row.defender,
                     row.enrolledAt.ISO8601Format(), row.lastCheckInAt?.ISO8601Format() ?? ""]
                }
                return (lines, batch.last)
            }
        }
        return try JSONBody.response(try await reports.enrollmentReport(tenant: tenant, state: state, limit: page.limit, after: page.cursor))
    }

    @Sendable func refused(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await reports.refusedEnrollments(tenant: context.tenant, limit: page.limit, after: page.cursor).response(named: "attempts")
    }
}

/// CSV exports: `?format=csv` (or `Accept: text/csv` without `?format=json`) answers every row
/// as `text/csv`, written batch by batch as it is read, so memory stays flat whatever the size;
/// paging parameters do not apply. Cells that a spreadsheet would run as a formula (starting
/// with = + - @) are prefixed with `'`: device names come from devices.
enum StreamedCSV {
    static func wanted(_ request: Request) throws -> Bool {
        if let format = request.uri.queryParameters["format"] {
            switch format {
            case "csv": return true
            case "json": return false
            default: throw PalisadeError.invalid("format must be csv or json, got \"\(format)\"", field: "format")
            }
        }
        return request.headers[.accept]?.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("text/csv") } ?? false
    }

    /// `next(after)` returns the rows of one batch and where the next starts (nil: the end).
    static func response(filename: String, header: [String], next: @escaping @Sendable (String?) async throws -> ([[String]], String?)) -> Response {
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: line(header)))
            var after: String?
            repeat {
                let (rows, last) = try await next(after)
                if !rows.isEmpty { try await writer.write(ByteBuffer(string: rows.map(line).joined())) }
                after = last
            } while after != nil
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename)\""], body: body)
    }

    static func line(_ cells: [String]) -> String {
        cells.map(cell).joined(separator: ",") + "\r\n"
    }

    /// RFC 4180 quoting, and no formula for spreadsheets.
    static func cell(_ value: String) -> String {
        var value = value
        if let first = value.first, "=+-@\t\r".contains(first) { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PalisadeCore

/// `?format=csv|json` or `Accept: text/csv`: a report's every matching row as a download.
public enum ExportFormat: String, Sendable {
    case csv
    case json

    /// nil when the caller wants the ordinary paged JSON answer.
    static func requested(_ request: Request) throws -> ExportFormat? {
        if let text = request.uri.queryParameters["format"] {
            guard let format = ExportFormat(rawValue: String(text)) else {
                throw PalisadeError.invalid("format must be \"csv\" or \"json\", got \"\(text)\"", field: "format")
            }
            return format
        }
        if let accept = request.headers[.accept], accept.lowercased().contains("text/csv") { return .csv }
        return nil
    }
}

/// CSV as spreadsheets read it (RFC 4180), with formula injection neutralised: a cell that
/// starts with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`.
public enum CSV {
    public static func cell(_ value: String) -> String {
        var buffer = ByteBuffer()
        append(value, to: &buffer)
        return String(buffer: buffer)
    }

    public static func line(_ cells: [String]) -> String {
        var buffer = ByteBuffer()
        appendLine(cells, to: &buffer)
        return String(buffer: buffer)
    }

    /// Writes the cells straight into `buffer` (exports write 100k rows: no intermediate strings).
    public static func appendLine(_ cells: [String], to buffer: inout ByteBuffer) {
        for (index, cell) in cells.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            append(cell, to: &buffer)
        }
        buffer.writeStaticString("\r\n")
    }

    static func append(_ value: String, to buffer: inout ByteBuffer) {
        let utf8 = value.utf8
        let formula = utf8.first.map { [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), UInt8(ascii: "\t"), UInt8(ascii: "\r")].contains($0) } ?? false
        let quoted = utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }
        if quoted { buffer.writeInteger(UInt8(ascii: "\"")) }
        if formula { buffer.writeInteger(UInt8(ascii: "'")) }
        if quoted {
            for byte in utf8 {
                if byte == UInt8(ascii: "\"") { buffer.writeInteger(byte) }
                buffer.writeInteger(byte)
            }
            buffer.writeInteger(UInt8(ascii: "\""))
        } else {
            buffer.writeString(value)
        }
    }

    /// `2026-11-27T03:05:29Z`, as the JSON answers write dates (Foundation's formatter costs
    /// more than the rest of an exported row).
    public static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}

public enum ReportExport {
    /// The columns of a policy report's device rows (and of one setting's devices).
    public static let policyDeviceColumns = ["deviceId", "deviceName", "state", "revision", "lastReportAt", "stale"]

    @Sendable public static func policyDeviceCells(_ row: PolicyReport.DeviceRow) -> [String] {
        [row.deviceId, row.deviceName, row.state.rawValue, String(row.revision), row.lastReportAt.map(CSV.timestamp) ?? "", row.stale ? "true" : "false"]
    }

    /// Streams every row as the response body: see `write`. The first page is read before
    /// answering, so that an unknown object or bad filter still answers 4xx.
    static func stream<Row: Encodable & Sendable>(
        _ format: ExportFormat, filename: String, columns: [String], cells: @escaping @Sendable (Row) -> [String],
        page: @escaping @Sendable (String?) async throws -> Page<Row>
    ) async throws -> Response {
        let first = try await page(nil)
        let body = ResponseBody { writer in
            try await write(format, columns: columns, cells: cells, first: first, page: page) { buffer in try await writer.write(buffer) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers(format, filename: filename), body: body)
    }

    /// Writes `first`, then each following page (`page` called with each next cursor) until a
    /// page has none, to `sink`, one buffer per page: one page (of about a thousand rows) is
    /// in memory at a time. Public for palisade-bench, which measures it.
    public static func write<Row: Encodable & Sendable>(
        _ format: ExportFormat, columns: [String], cells: @Sendable (Row) -> [String], first: Page<Row>,
        page: @Sendable (String?) async throws -> Page<Row>, to sink: (ByteBuffer) async throws -> Void
    ) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var current = first
        var buffer = ByteBuffer()
        buffer.writeString(format == .csv ? CSV.line(columns) : "[")
        var firstRow = true
        while true {
            for row in current.items {
                switch format {
                case .csv:
                    CSV.appendLine(cells(row), to: &buffer)
                case .json:
                    if !firstRow { buffer.writeString(",\n") }
                    buffer.writeBytes(try encoder.encode(row))
                }
                firstRow = false
            }
            try await sink(buffer)
            buffer = ByteBuffer()
            guard let next = current.nextCursor else { break }
            current = try await page(next)
        }
        if format == .json { try await sink(ByteBuffer(string: "]\n")) }
    }

    /// A download of rows already in hand (small reports).
    static func whole(_ format: ExportFormat, filename: String, columns: [String], rows: [[String]], json: some Encodable) throws -> Response {
        let bytes: ByteBuffer = switch format {
        case .csv: ByteBuffer(string: ([columns] + rows).map(CSV.line).joined())
        case .json: ByteBuffer(bytes: try JSONBody.encoder.encode(json))
        }
        return Response(status: .ok, headers: headers(format, filename: filename), body: .init(byteBuffer: bytes))
    }

    static func headers(_ format: ExportFormat, filename: String) -> HTTPFields {
        let safe = String(filename.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" || $0 == "_" ? Character($0) : "_" })
        return [
            .contentType: format == .csv ? "text/csv; charset=utf-8" : "application/json",
            .contentDisposition: "attachment; filename=\"\(safe).\(format.rawValue)\"",
            .cacheControl: "no-store",
        ]
    }
}

/// Filter parameters of the reports and the device list; a bad value is a 400 naming it.
enum ReportQuery {
    static func state(_ request: Request, name: String = "state") throws -> SettingState? {
        guard let text = request.uri.queryParameters[Substring(name)] else { return nil }
        guard let state = SettingState(rawValue: String(text)) else {
            let allowed = SettingState.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw PalisadeError.invalid("\(name) must be one of \(allowed), got \"\(text)\"", field: name)
        }
        return state
    }

    /// A free-text parameter: 1 to 200 characters.
    static func text(_ request: Request, _ name: String) throws -> String? {
        guard let text = request.uri.queryParameters[Substring(name)].map(String.init) else { return nil }
        guard (1...200).contains(text.count) else {
            throw PalisadeError.invalid("\(name) must be 1 to 200 characters", field: name)
        }
        return text
    }
}

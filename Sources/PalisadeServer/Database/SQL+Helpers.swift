import PalisadeCore
import SQLKit

extension SQLRow {
    func string(_ column: String) throws -> String { try decode(column: column, as: String.self) }
    func optionalString(_ column: String) throws -> String? { try decode(column: column, as: String?.self) }
    func int(_ column: String) throws -> Int { try decode(column: column, as: Int.self) }
    func optionalInt(_ column: String) throws -> Int? { try decode(column: column, as: Int?.self) }
    func millis(_ column: String) throws -> Int64 { try decode(column: column, as: Int64.self) }
    func optionalMillis(_ column: String) throws -> Int64? { try decode(column: column, as: Int64?.self) }

    func json<T: Decodable>(_ column: String, as type: T.Type) throws -> T {
        let text = try string(column)
        do {
            return try CanonicalJSON.decode(type, from: text)
        } catch {
            throw StoreError.corrupt("column \(column): \(error)")
        }
    }
}

extension SQLDatabase {
    /// Runs `body` between `begin` and COMMIT on this connection; rolls back when it throws.
    func transaction<T: Sendable>(_ begin: String, _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await raw(SQLQueryString(begin)).run()
        do {
            let result = try await body(self)
            try await raw("COMMIT").run()
            return result
        } catch {
            try? await raw("ROLLBACK").run()
            throw error
        }
    }
}

extension Array where Element: Sendable {
    /// Splits long IN lists so that no statement exceeds the engines' parameter limits.
    func chunked(_ size: Int = 500) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

extension SQLQueryString {
    /// A multi-row statement: `prefix`, the rows separated by commas, `suffix`.
    public static func insert(_ prefix: String, rows: [SQLQueryString], suffix: String = "") -> SQLQueryString {
        var query = SQLQueryString(prefix)
        for (index, row) in rows.enumerated() {
            if index > 0 { query += SQLQueryString(", ") }
            query += row
        }
        query += SQLQueryString(suffix)
        return query
    }
}

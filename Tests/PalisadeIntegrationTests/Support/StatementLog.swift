import Foundation
import Logging
import NIOConcurrencyHelpers

/// Every SQL statement a store ran, read from the drivers' own query log ("Executing query"
/// with the statement in `sql`, at debug level): the tenant-filter test checks each one.
final class StatementLog: Sendable {
    private let statements = NIOLockedValueBox<Set<String>>([])

    var all: Set<String> { statements.withLockedValue { $0 } }

    func record(_ sql: String) {
        // One entry per distinct statement, white space folded.
        let folded = sql.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        statements.withLockedValue { _ = $0.insert(folded) }
    }

    /// A logger that records statements and passes nothing else on.
    var logger: Logger {
        var logger = Logger(label: "palisade.test.statements") { _ in Handler(log: self) }
        logger.logLevel = .debug
        return logger
    }

    struct Handler: LogHandler {
        let log: StatementLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            if case .string(let sql)? = metadata?["sql"] { log.record(sql) }
        }
    }
}

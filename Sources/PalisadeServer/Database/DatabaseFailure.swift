import Foundation
import NIOCore
import PalisadeCore
import NIOPosix
import PostgresNIO
import SQLiteNIO

/// No database connection came within `PostgresBackend.connectionWaitLimit` and PostgreSQL's
/// port refuses connections: the pool would otherwise queue the request until its circuit
/// breaker trips (up to a minute).
struct DatabaseUnreachable: Error, CustomStringConvertible {
    var database: String
    var description: String { "no connection to \(database) (it refuses connections)" }
}

/// Recognises the database's own failures a caller can act on: an unreachable PostgreSQL (the
/// HTTP layer answers 503 `database_unavailable` with Retry-After; agents back off and retry)
/// and a full disk (507 `storage_full`). Anything else stays an internal error.
enum DatabaseFailure {
    /// Seconds a caller is told to wait before retrying while the database is unreachable.
    static let retryAfterSeconds = 5

    static func isStorageFull(_ error: any Error) -> Bool {
        switch error {
        case let error as SQLiteError: error.reason == .full
        case let error as PostgresTransactionError: [error.closureError, error.beginError, error.commitError].contains { $0.map(isStorageFull) ?? false }
        default: false
        }
    }

    static func isUnavailable(_ error: any Error) -> Bool {
        switch error {
        case is DatabaseUnreachable, is NIOConnectionError:
            return true
        case let error as PSQLError:
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
                return true
            case .server:
                // 08xxx connection exceptions, 57P0x: the server is shutting down or starting up.
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("08") || state.hasPrefix("57P")
            default:
                return error.underlying.map(isUnavailable) ?? false
            }
        case let error as PostgresTransactionError:
            return [error.closureError, error.beginError, error.commitError].contains { $0.map(isUnavailable) ?? false }
        case let error as IOError:
            return [ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode)
        case let error as ChannelError:
            if case .connectTimeout = error { return true }
            return error == .ioOnClosedChannel || error == .alreadyClosed
        default:
            // The pool's circuit breaker (`ConnectionPoolError`) lives in a module PostgresNIO
            // does not export; its type name is the stable part.
            return String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError")
        }
    }
}

import Foundation
import Hummingbird
import Logging
import PalisadeCore

/// Turns every error into `{"error": {"code", "message", "details"}}` with the right status:
/// `PalisadeError` as it is, a `DomainError` by its kind, the core's `InputProblem` as a 400 naming its field, Hummingbird's
/// own errors with a code, and anything else as a 500 whose details stay in the server log.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    /// The served routes, to answer 405 (with Allow) instead of 404 for a known path.
    let routes: RouteTable
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var answer = Self.palisadeError(for: error, request: request, routes: routes, logger: context.logger)
            answer.requestId = context.requestId.isEmpty ? nil : context.requestId
            metrics.error(code: answer.code.rawValue, status: answer.status.code)
            return try answer.response(from: request, context: context)
        }
    }

    static func palisadeError(for error: any Error, request: Request, routes: RouteTable, logger: Logger) -> PalisadeError {
        switch error {
        case let error as PalisadeError:
            return error
        case let refusal as DomainError:
            return PalisadeError(refusal)
        case let problem as InputProblem:
            return .invalid(problem)
        case let error where error is CancellationError || Task.isCancelled:
            // A stop cancels what is still running after the graceful limit: thousands of
            // requests at once with a large fleet, each otherwise logged as an error (or, for a
            // database pool request, as the database being unavailable).
            logger.debug("request cancelled", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            var refusal = PalisadeError(.serviceUnavailable, code: .serverStopping, message: "the server is stopping; retry in a few seconds")
            refusal.headers[.retryAfter] = String(DatabaseFailure.retryAfterSeconds)
            return refusal
        case let error where PalisadeError.databaseFailure(error) != nil:
            let answer = PalisadeError.databaseFailure(error)!
            logger.warning("database failure", metadata: ["error": "\(String(reflecting: error))", "code": "\(answer.code)", "path": "\(request.uri.path)"])
            return answer
        case let error as HTTPError where error.status == .notFound && error.body == nil:
            let allowed = routes.methods(for: request.uri.path)
            guard !allowed.isEmpty else {
                return PalisadeError(.notFound, code: .notFound, message: "no such route: \(request.method) \(request.uri.path)")
            }
            var refusal = PalisadeError(.methodNotAllowed, code: .methodNotAllowed,
                                        message: "\(request.method) is not allowed on \(request.uri.path); allowed: \(allowed.joined(separator: ", "))")
            refusal.headers[.allow] = allowed.joined(separator: ", ")
            return refusal
        case let error as HTTPError:
            let code: PalisadeError.Code = switch error.status {
            case .notFound: .notFound
            case .methodNotAllowed: .methodNotAllowed
            case .contentTooLarge: .payloadTooLarge
            case .unauthorized: .unauthorized
            default: .http(error.status)
            }
            let message = error.body ?? (error.status == .notFound ? "no such route: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            return PalisadeError(error.status, code: code, message: message)
        default:
            logger.error("unhandled error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return PalisadeError(.internalServerError, code: .internalError, message: "internal error; the server log has the details")
        }
    }
}

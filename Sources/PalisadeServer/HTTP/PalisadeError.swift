import Hummingbird
import NIOCore
import PalisadeCore

/// Every error that reaches an admin or an agent: an HTTP status, a stable code and a message
/// that says what is wrong and where. Rendered as `{"error": {"code", "message", "details"}}`.
public struct PalisadeError: HTTPResponseError, Sendable, CustomStringConvertible {
    /// The stable codes live with the domain (`ErrorCode`), which knows nothing of HTTP.
    public typealias Code = ErrorCode

    public var status: HTTPResponse.Status
    public var code: Code
    public var message: String
    public var details: JSONValue?
    /// Extra response headers (e.g. `Allow` on a 405).
    public var headers: HTTPFields = [:]
    /// The request's id (`X-Request-Id`), set by `ErrorMiddleware`, so that a caller can
    /// quote it and an operator can find the request's log lines.
    public var requestId: String?

    public init(_ status: HTTPResponse.Status, code: Code, message: String, details: JSONValue? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = (try? JSONBody.response(ErrorBody(code: code.rawValue, message: message, details: details, requestId: requestId), status: status)) ?? Response(status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    /// What a domain refusal means over HTTP: its status, and Retry-After where it says when.
    init(_ refusal: DomainError) {
        let status: HTTPResponse.Status = switch refusal.kind {
        case .invalidInput: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .rateLimited: .tooManyRequests
        }
        self.init(status, code: refusal.code, message: refusal.message, details: refusal.details)
        if let seconds = refusal.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
    }

    /// The answer a page shows beside its form for a refusal (any 4xx); nil for anything else,
    /// which the page's error middleware turns into an error page.
    static func refusal(_ error: any Error) -> PalisadeError? {
        let answer: PalisadeError? = switch error {
        case let error as PalisadeError: error
        case let error as DomainError: PalisadeError(error)
        case let problem as InputProblem: PalisadeError(DomainError.invalid(problem))
        default: nil
        }
        return answer.flatMap { $0.status.code < 500 ? $0 : nil }
    }

    static func notFound(_ what: String, id: String) -> PalisadeError { PalisadeError(DomainError.notFound(what, id: id)) }

    static func invalid(_ message: String, field: String? = nil) -> PalisadeError { PalisadeError(DomainError.invalid(message, field: field)) }

    /// A field the core's input rules refused.
    static func invalid(_ problem: InputProblem) -> PalisadeError { PalisadeError(DomainError.invalid(problem)) }
}

extension ErrorCode {
    /// Any other status Hummingbird itself answers with.
    static func http(_ status: HTTPResponse.Status) -> ErrorCode { ErrorCode(rawValue: "http_\(status.code)") }
}

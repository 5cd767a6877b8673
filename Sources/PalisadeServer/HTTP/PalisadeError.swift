import Hummingbird
import NIOCore
import PalisadeCore

/// Every error that reaches an admin or an agent: an HTTP status, a stable code and a message
/// that says what is wrong and where. Rendered as `{"error": {"code", "message", "details"}}`.
public struct PalisadeError: HTTPResponseError, Sendable, CustomStringConvertible {
    /// A stable, machine-readable error code. Admin and device codes live together here so
    /// that a call site names a constant, never a string.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // Requests
        public static let invalidJSON = Code(rawValue: "invalid_json")
        public static let invalidRequest = Code(rawValue: "invalid_request")
        public static let payloadTooLarge = Code(rawValue: "payload_too_large")
        public static let notFound = Code(rawValue: "not_found")
        public static let methodNotAllowed = Code(rawValue: "method_not_allowed")
        public static let unauthorized = Code(rawValue: "unauthorized")
        public static let forbidden = Code(rawValue: "forbidden")
        public static let tokenExpired = Code(rawValue: "token_expired")
        public static let tokenRevoked = Code(rawValue: "token_revoked")
        public static let sessionExpired = Code(rawValue: "session_expired")
        public static let csrfTokenInvalid = Code(rawValue: "csrf_token_invalid")
        public static let invalidCredentials = Code(rawValue: "invalid_credentials")
        public static let accountLocked = Code(rawValue: "account_locked")
        public static let tooManyRequests = Code(rawValue: "too_many_requests")
        public static let internalError = Code(rawValue: "internal_error")
        /// The database cannot be reached (503 with Retry-After); agents back off and retry.
        public static let databaseUnavailable = Code(rawValue: DeviceProtocol.ErrorCode.databaseUnavailable)
        /// A write found the storage full (507); reads keep working.
        public static let storageFull = Code(rawValue: "storage_full")
        /// The request was cancelled: the server is stopping (or the client left).
        public static let serverStopping = Code(rawValue: "server_stopping")
        /// Any other status Hummingbird itself answers with.
        public static func http(_ status: HTTPResponse.Status) -> Code { Code(rawValue: "http_\(status.code)") }

        // Admin API
        public static let tenantExists = Code(rawValue: "tenant_exists")
        public static let userExists = Code(rawValue: "user_exists")
        public static let invalidSettings = Code(rawValue: "invalid_settings")
        public static let ambiguousSetting = Code(rawValue: "ambiguous_setting")
        public static let groupExists = Code(rawValue: "group_exists")
        public static let unknownDevice = Code(rawValue: "unknown_device")
        public static let unknownGroup = Code(rawValue: "unknown_group")
        public static let invalidRule = Code(rawValue: "invalid_rule")
        public static let dynamicGroup = Code(rawValue: "dynamic_group")
        public static let staticGroup = Code(rawValue: "static_group")
        public static let groupCycle = Code(rawValue: "group_cycle")

        // Device protocol (the agent acts on these: DeviceProtocol.ErrorCode)
        public static let invalidPublicKey = Code(rawValue: "invalid_public_key")
        public static let deviceRetired = Code(rawValue: DeviceProtocol.ErrorCode.deviceRetired)
        public static let deviceUnknown = Code(rawValue: DeviceProtocol.ErrorCode.deviceUnknown)
        public static let assertionInvalid = Code(rawValue: DeviceProtocol.ErrorCode.assertionInvalid)
        public static let assertionReplayed = Code(rawValue: DeviceProtocol.ErrorCode.assertionReplayed)
        public static let enrollmentTokenInvalid = Code(rawValue: DeviceProtocol.ErrorCode.enrollmentTokenInvalid)
        public static let enrollmentTokenExpired = Code(rawValue: DeviceProtocol.ErrorCode.enrollmentTokenExpired)
        public static let enrollmentTokenExhausted = Code(rawValue: DeviceProtocol.ErrorCode.enrollmentTokenExhausted)
        public static let reenrollmentPending = Code(rawValue: DeviceProtocol.ErrorCode.reenrollmentPending)
        public static let configurationOutdated = Code(rawValue: DeviceProtocol.ErrorCode.configurationOutdated)
        public static let noPendingReenrollment = Code(rawValue: "no_pending_reenrollment")
    }

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

    static func notFound(_ what: String, id: String) -> PalisadeError {
        PalisadeError(.notFound, code: .notFound, message: "\(what) \(id) does not exist", details: .object(["id": .string(id)]))
    }

    static func invalid(_ message: String, field: String? = nil) -> PalisadeError {
        PalisadeError(.badRequest, code: .invalidRequest, message: message, details: field.map { .object(["field": .string($0)]) })
    }

    /// A field the core's input rules refused.
    static func invalid(_ problem: InputProblem) -> PalisadeError {
        invalid(problem.message, field: problem.field)
    }

    static func invalidSettings(_ problems: [SettingProblem]) -> PalisadeError {
        let details = JSONValue.object(["problems": .array(problems.map { problem in
            .object([
                "settingId": .string(problem.settingId),
                "path": .string(problem.path),
                "kind": .string(problem.kind.rawValue),
                "expected": .string(problem.expected),
                "given": .string(problem.given),
            ])
        })])
        let summary = problems.prefix(3).map(\.message).joined(separator: "; ") + (problems.count > 3 ? "; and \(problems.count - 3) more" : "")
        return PalisadeError(.badRequest, code: .invalidSettings, message: "invalid settings: \(summary)", details: details)
    }

    static func unknownGroups(_ missing: [String], field: String) -> PalisadeError {
        PalisadeError(.badRequest, code: .unknownGroup, message: "\(field): no such group: \(missing.joined(separator: ", "))",
                      details: .object(["field": .string(field), "unknown": .array(missing.map(JSONValue.string))]))
    }

    static func groupExists(_ name: String) -> PalisadeError {
        PalisadeError(.conflict, code: .groupExists, message: "a group named \"\(name)\" already exists", details: .object(["field": "name"]))
    }
}

import PalisadeCore

/// A rule of the domain refused a request: what kind of refusal, a stable code, and a message
/// that says what is wrong and where. Services and repositories throw this; only the HTTP layer
/// decides what it is on the wire (`PalisadeError.init(_:)`), so the same refusal reads the same
/// through the API, a page and the CLI.
public struct DomainError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The input breaks a rule; `details.field` names the field where one is to blame.
        case invalidInput
        case notFound
        /// The request contradicts what is stored (a name in use, nothing pending to approve).
        case conflict
        /// The caller could not be identified (bad credentials, an unknown enrollment token).
        case unauthenticated
        case forbidden
        /// Too many attempts; `retryAfterSeconds` says when to try again.
        case rateLimited
    }

    public var kind: Kind
    public var code: ErrorCode
    public var message: String
    public var details: JSONValue?
    public var retryAfterSeconds: Int?
    /// The settings an `invalidSettings` refusal names, for a form that shows each beside its
    /// field (the same list as `details.problems`).
    public var settingProblems: [SettingProblem] = []

    public init(_ kind: Kind, code: ErrorCode, message: String, details: JSONValue? = nil, retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code): \(message)" }

    /// The field the refusal names, if any.
    public var field: String? {
        if case .object(let details) = details, case .string(let field)? = details["field"] { return field }
        return nil
    }

    static func notFound(_ what: String, id: String) -> DomainError {
        DomainError(.notFound, code: .notFound, message: "\(what) \(id) does not exist", details: .object(["id": .string(id)]))
    }

    static func invalid(_ message: String, field: String? = nil) -> DomainError {
        DomainError(.invalidInput, code: .invalidRequest, message: message, details: field.map { .object(["field": .string($0)]) })
    }

    /// A field the core's input rules refused.
    static func invalid(_ problem: InputProblem) -> DomainError {
        invalid(problem.message, field: problem.field)
    }

    static func invalidSettings(_ problems: [SettingProblem]) -> DomainError {
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
        var refusal = DomainError(.invalidInput, code: .invalidSettings, message: "invalid settings: \(summary)", details: details)
        refusal.settingProblems = problems
        return refusal
    }

    static func unknownGroups(_ missing: [String], field: String) -> DomainError {
        DomainError(.invalidInput, code: .unknownGroup, message: "\(field): no such group: \(missing.joined(separator: ", "))",
                    details: .object(["field": .string(field), "unknown": .array(missing.map(JSONValue.string))]))
    }

    static func groupExists(_ name: String) -> DomainError {
        DomainError(.conflict, code: .groupExists, message: "a group named \"\(name)\" already exists", details: .object(["field": "name"]))
    }

    /// A cursor that this server did not hand out.
    static let unknownCursor = invalid("cursor is not one this server handed out", field: "cursor")
}

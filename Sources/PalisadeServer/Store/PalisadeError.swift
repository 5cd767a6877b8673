import PalisadeCore

/// An error that reaches the admin or the agent: an HTTP-like kind, a stable code and a
/// message that says what is wrong and where.
public struct PalisadeError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        case badRequest
        case unauthorized
        case forbidden
        case notFound
        case conflict
        case gone
        case payloadTooLarge
        case unprocessable
    }

    public var kind: Kind
    public var code: String
    public var message: String
    public var details: JSONValue?

    public init(_ kind: Kind, code: String, message: String, details: JSONValue? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code): \(message)" }

    static func notFound(_ what: String, id: String) -> PalisadeError {
        PalisadeError(.notFound, code: "not_found", message: "\(what) \(id) does not exist", details: .object(["id": .string(id)]))
    }

    static func invalid(_ message: String, field: String? = nil) -> PalisadeError {
        PalisadeError(.badRequest, code: "invalid_request", message: message, details: field.map { .object(["field": .string($0)]) })
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
        return PalisadeError(.badRequest, code: "invalid_settings", message: "invalid settings: \(summary)", details: details)
    }
}

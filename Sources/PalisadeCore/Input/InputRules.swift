/// An input refused by one of the rules below: which field, and what is wrong with it. The
/// HTTP layer answers it as a 400 naming the field.
public struct InputProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { message }
}

/// Rules for the names and tags admins and agents send, shared by every route that takes them.
public enum InputRules {
    /// A display name (group, policy, enrollment token, API token, tenant): trimmed of white
    /// space and line breaks of every kind, then 1 to `maximumLength` characters.
    public static func name(_ raw: String, field: String = "name", maximumLength: Int = 200) throws(InputProblem) -> String {
        let trimmed = trimmed(raw, newlines: true)
        guard !trimmed.isEmpty, trimmed.count <= maximumLength else {
            throw InputProblem(field: field, message: "\(field) must be 1 to \(maximumLength) characters")
        }
        return trimmed
    }

    public static let maximumTags = 50
    public static let maximumTagLength = 100

    /// Device tags: at most 50, each trimmed of white space to 1 to 100 characters, duplicates
    /// (ignoring case) dropped, first spelling kept.
    public static func tags(_ tags: [String], field: String) throws(InputProblem) -> [String] {
        guard tags.count <= maximumTags else {
            throw InputProblem(field: field, message: "\(field) holds at most \(maximumTags) tags, got \(tags.count)")
        }
        var result: [String] = []
        for (index, tag) in tags.enumerated() {
            let trimmed = trimmed(tag, newlines: true)
            guard (1...maximumTagLength).contains(trimmed.count) else {
                throw InputProblem(field: "\(field)[\(index)]", message: "\(field)[\(index)] must be 1 to \(maximumTagLength) characters")
            }
            if !result.contains(where: { $0.lowercased() == trimmed.lowercased() }) { result.append(trimmed) }
        }
        return result
    }

    /// The enforcement scope's pilot tag: trimmed of white space, 1 to 100 characters.
    public static func scopeTag(_ tag: String, field: String = "tag") throws(InputProblem) -> String {
        let trimmed = trimmed(tag, newlines: true)
        guard (1...maximumTagLength).contains(trimmed.count) else {
            throw InputProblem(field: field, message: "\(field) must be 1 to \(maximumTagLength) characters besides spaces")
        }
        return trimmed
    }

    /// White space (and, if asked, line breaks) cut from both ends.
    public static func trimmed(_ text: String, newlines: Bool) -> String {
        func isCut(_ character: Character) -> Bool { character.isWhitespace && (newlines || !character.isNewline) }
        guard let first = text.firstIndex(where: { !isCut($0) }), let last = text.lastIndex(where: { !isCut($0) }) else { return "" }
        return String(text[first...last])
    }
}

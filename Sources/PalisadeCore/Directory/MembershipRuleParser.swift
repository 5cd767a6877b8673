/// Why a rule does not parse: where (0-based character offset) and what was expected there.
public struct RuleParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var position: Int
    public var expected: String
    public var found: String

    public var description: String { "at position \(position): expected \(expected), found \(found)" }
}

/// Parses membership rules. Recursive descent over tokens; every error names a position.
public enum MembershipRuleParser {
    /// Longest rule accepted, and deepest nesting, so that hostile input cannot exhaust memory
    /// or the stack.
    public static let maximumLength = 4096
    public static let maximumDepth = 64

    public static func parse(_ text: String) throws(RuleParseError) -> MembershipRule {
        let characters = Array(text)
        guard characters.count <= maximumLength else {
            throw RuleParseError(position: maximumLength, expected: "a rule of at most \(maximumLength) characters", found: "\(characters.count) characters")
        }
        var parser = Parser(tokens: try Lexer.tokens(characters), end: characters.count)
        let rule = try parser.orExpression(depth: 0)
        if let token = parser.peek {
            throw RuleParseError(position: token.position, expected: "-and, -or or the end of the rule", found: token.display)
        }
        return rule
    }

    struct Token: Equatable {
        enum Kind: Equatable {
            case word(String)        // device.x, true, keywords without dash
            case op(String)          // -eq, -and, ...
            case string(String)
            case open, close, openBracket, closeBracket, comma
        }

        var kind: Kind
        var position: Int

        var display: String {
            switch kind {
            case .word(let word): "\"\(word)\""
            case .op(let op): op
            case .string(let string): "the string \"\(string)\""
            case .open: "\"(\""
            case .close: "\")\""
            case .openBracket: "\"[\""
            case .closeBracket: "\"]\""
            case .comma: "\",\""
            }
        }
    }

    enum Lexer {
        static func tokens(_ characters: [Character]) throws(RuleParseError) -> [Token] {
            var tokens: [Token] = []
            var index = 0
            while index < characters.count {
                let character = characters[index]
                let start = index
                switch character {
                case " ", "\t", "\n", "\r":
                    index += 1
                case "(": tokens.append(Token(kind: .open, position: start)); index += 1
                case ")": tokens.append(Token(kind: .close, position: start)); index += 1
                case "[": tokens.append(Token(kind: .openBracket, position: start)); index += 1
                case "]": tokens.append(Token(kind: .closeBracket, position: start)); index += 1
                case ",": tokens.append(Token(kind: .comma, position: start)); index += 1
                case "\"", "'":
                    // A doubled quote inside the string is a literal quote (as in Entra rules).
                    index += 1
                    var value = ""
                    var closed = false
                    while index < characters.count {
                        if characters[index] == character {
                            if index + 1 < characters.count, characters[index + 1] == character {
                                value.append(character)
                                index += 2
                                continue
                            }
                            closed = true
                            index += 1
                            break
                        }
                        value.append(characters[index])
                        index += 1
                    }
                    guard closed else { throw RuleParseError(position: start, expected: "a closing \(character)", found: "the end of the rule") }
                    tokens.append(Token(kind: .string(value), position: start))
                case "-":
                    index += 1
                    var word = ""
                    while index < characters.count, characters[index].isLetter { word.append(characters[index]); index += 1 }
                    guard !word.isEmpty else { throw RuleParseError(position: start, expected: "an operator such as -eq or -and", found: "\"-\"") }
                    tokens.append(Token(kind: .op("-" + word), position: start))
                default:
                    guard character.isLetter || character.isNumber || character == "_" else {
                        throw RuleParseError(position: start, expected: "device.<attribute>, an operator, a string or a parenthesis", found: "\"\(character)\"")
                    }
                    var word = ""
                    while index < characters.count, characters[index].isLetter || characters[index].isNumber || characters[index] == "." || characters[index] == "_" {
                        word.append(characters[index])
                        index += 1
                    }
                    tokens.append(Token(kind: .word(word), position: start))
                }
            }
            return tokens
        }
    }

    struct Parser {
        var tokens: [Token]
        var index = 0
        let end: Int

        var peek: Token? { index < tokens.count ? tokens[index] : nil }

        mutating func next() -> Token? {
            defer { index += 1 }
            return peek
        }

        func error(expected: String) -> RuleParseError {
            RuleParseError(position: peek?.position ?? end, expected: expected, found: peek?.display ?? "the end of the rule")
        }

        func isOperator(_ name: String) -> Bool {
            if case .op(let op)? = peek?.kind { return op.lowercased() == name.lowercased() }
            return false
        }

        mutating func orExpression(depth: Int) throws(RuleParseError) -> MembershipRule {
            var rule = try andExpression(depth: depth)
            while isOperator("-or") {
                index += 1
                rule = .or(rule, try andExpression(depth: depth))
            }
            return rule
        }

        mutating func andExpression(depth: Int) throws(RuleParseError) -> MembershipRule {
            var rule = try unary(depth: depth)
            while isOperator("-and") {
                index += 1
                rule = .and(rule, try unary(depth: depth))
            }
            return rule
        }

        mutating func unary(depth: Int) throws(RuleParseError) -> MembershipRule {
            guard depth < MembershipRuleParser.maximumDepth else {
                throw error(expected: "at most \(MembershipRuleParser.maximumDepth) levels of -not and parentheses")
            }
            if isOperator("-not") {
                index += 1
                return .not(try unary(depth: depth + 1))
            }
            if peek?.kind == .open {
                index += 1
                let inner = try orExpression(depth: depth + 1)
                guard peek?.kind == .close else { throw error(expected: "\")\"") }
                index += 1
                return inner
            }
            return try comparison()
        }

        mutating func comparison() throws(RuleParseError) -> MembershipRule {
            let attributeNames = DeviceAttribute.allCases.map { "device.\($0.rawValue)" }.joined(separator: ", ")
            guard case .word(let word)? = peek?.kind, word.lowercased().hasPrefix("device.") else {
                throw error(expected: "device.<attribute> (one of \(attributeNames)), -not or \"(\"")
            }
            let name = word.dropFirst("device.".count).lowercased()
            guard let attribute = DeviceAttribute.allCases.first(where: { $0.rawValue.lowercased() == name }) else {
                throw error(expected: "one of \(attributeNames)")
            }
            index += 1
            guard case .op(let opText)? = peek?.kind, let op = RuleOperator.allCases.first(where: { $0.rawValue.lowercased() == opText.lowercased() }) else {
                throw error(expected: "a comparison operator (" + RuleOperator.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            index += 1
            switch op {
            case .in, .notIn:
                return .comparison(attribute, op, .list(try stringList()))
            case .match, .notMatch:
                let position = peek?.position ?? end
                let source = try string()
                do {
                    return .comparison(attribute, op, .pattern(try RulePattern(source)))
                } catch {
                    throw RuleParseError(position: position, expected: "a valid regular expression (\(error))", found: "\"\(source)\"")
                }
            default:
                return .comparison(attribute, op, .string(try string()))
            }
        }

        mutating func string() throws(RuleParseError) -> String {
            switch peek?.kind {
            case .string(let value)?:
                index += 1
                return value
            case .word(let word)? where !word.lowercased().hasPrefix("device."):
                // Bare words (true, 10) are accepted as strings, as Entra does.
                index += 1
                return word
            default:
                throw error(expected: "a quoted string")
            }
        }

        mutating func stringList() throws(RuleParseError) -> [String] {
            guard peek?.kind == .openBracket else { throw error(expected: "a list such as [\"a\", \"b\"]") }
            index += 1
            var values: [String] = []
            if peek?.kind == .closeBracket {
                index += 1
                return values
            }
            while true {
                values.append(try string())
                if peek?.kind == .comma { index += 1; continue }
                guard peek?.kind == .closeBracket else { throw error(expected: "\",\" or \"]\"") }
                index += 1
                return values
            }
        }
    }
}

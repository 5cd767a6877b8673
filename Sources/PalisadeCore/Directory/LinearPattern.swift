/// The regular expressions of `-match` rules, matched in time linear in the text: the pattern
/// compiles to a Thompson NFA that is simulated on all its states at once (a Pike VM without
/// captures), so no pattern can backtrack exponentially. A backtracking engine (Swift's
/// `Regex`) takes minutes on `^(a+)+$` against thirty `a`s and a `!` while holding the tenant's
/// write; this takes microseconds.
///
/// Syntax: literals, `.`, classes `[a-z0-9_]` and `[^...]`, escapes `\d \w \s \D \W \S` and
/// escaped punctuation, anchors `^` and `$`, groups `(...)` and `(?:...)`, alternation `|`,
/// quantifiers `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` (up to 100). No backreferences or
/// lookaround (they cannot be matched in linear time). Matching ignores case and finds the
/// pattern anywhere in the text unless anchored.
public struct LinearPattern: Sendable, Hashable {
    public struct SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at offset \(offset)" }
    }

    static let maximumLength = 256
    static let maximumProgram = 2_000
    static let maximumRepeat = 100

    enum Matcher: Sendable, Hashable {
        case character(Character)
        case any
        /// Ranges (lowercased) and whether the class is negated.
        case set([ClosedRange<Character>], negated: Bool)

        func matches(_ character: Character) -> Bool {
            switch self {
            case .character(let expected): character == expected
            case .any: !character.isNewline
            case .set(let ranges, let negated): ranges.contains { $0.contains(character) } != negated
            }
        }
    }

    enum Instruction: Sendable, Hashable {
        case consume(Matcher)
        case split(Int, Int)
        case jump(Int)
        case atStart
        case atEnd
        case match
    }

    indirect enum Node: Sendable, Hashable {
        case empty
        case atom(Matcher)
        case start
        case end
        case sequence([Node])
        case alternatives([Node])
        case repeated(Node, minimum: Int, maximum: Int?)
    }

    public let source: String
    let program: [Instruction]

    public init(_ source: String) throws(SyntaxError) {
        guard source.count <= Self.maximumLength else {
            throw SyntaxError(offset: Self.maximumLength, reason: "the pattern is longer than \(Self.maximumLength) characters")
        }
        var parser = Parser(characters: Array(source))
        let node = try parser.parseAlternatives()
        if parser.index < parser.characters.count {
            throw SyntaxError(offset: parser.index, reason: "unbalanced \")\"")
        }
        var program: [Instruction] = []
        Self.compile(node, into: &program)
        program.append(.match)
        guard program.count <= Self.maximumProgram else {
            throw SyntaxError(offset: 0, reason: "the pattern expands to more than \(Self.maximumProgram) steps (large repeat counts)")
        }
        self.source = source
        self.program = program
    }

    /// Whether the pattern occurs in `text`, ignoring case.
    public func matches(_ text: String) -> Bool {
        let characters = Array(text.lowercased())
        var current: [Int] = []
        var next: [Int] = []
        var seen = [Int](repeating: -1, count: program.count)
        // Threads start at every position (an unanchored search): added at each step.
        for position in 0...characters.count {
            if add(0, at: position, count: characters.count, to: &current, seen: &seen, generation: position) { return true }
            guard position < characters.count else { break }
            let character = characters[position]
            next.removeAll(keepingCapacity: true)
            for pc in current {
                if case .consume(let matcher) = program[pc], matcher.matches(character) {
                    if add(pc + 1, at: position + 1, count: characters.count, to: &next, seen: &seen, generation: position + 1) { return true }
                }
            }
            swap(&current, &next)
        }
        return false
    }

    /// Follows jumps, splits and anchors from `pc`; collects consuming states. True on a match.
    private func add(_ pc: Int, at position: Int, count: Int, to list: inout [Int], seen: inout [Int], generation: Int) -> Bool {
        guard seen[pc] != generation else { return false }
        seen[pc] = generation
        switch program[pc] {
        case .match: return true
        case .jump(let target): return add(target, at: position, count: count, to: &list, seen: &seen, generation: generation)
        case .split(let first, let second):
            return add(first, at: position, count: count, to: &list, seen: &seen, generation: generation)
                || add(second, at: position, count: count, to: &list, seen: &seen, generation: generation)
        case .atStart: return position == 0 && add(pc + 1, at: position, count: count, to: &list, seen: &seen, generation: generation)
        case .atEnd: return position == count && add(pc + 1, at: position, count: count, to: &list, seen: &seen, generation: generation)
        case .consume:
            list.append(pc)
            return false
        }
    }

    static func compile(_ node: Node, into program: inout [Instruction]) {
        switch node {
        case .empty: break
        case .atom(let matcher): program.append(.consume(matcher))
        case .start: program.append(.atStart)
        case .end: program.append(.atEnd)
        case .sequence(let nodes): for node in nodes { compile(node, into: &program) }
        case .alternatives(let options):
            var jumps: [Int] = []
            for (index, option) in options.enumerated() {
                if index < options.count - 1 {
                    let split = program.count
                    program.append(.split(split + 1, 0))
                    compile(option, into: &program)
                    jumps.append(program.count)
                    program.append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                } else {
                    compile(option, into: &program)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repeated(let inner, let minimum, let maximum):
            for _ in 0..<minimum {
                compile(inner, into: &program)
                if program.count > maximumProgram { return }
            }
            if let maximum {
                var splits: [Int] = []
                for _ in minimum..<maximum {
                    splits.append(program.count)
                    program.append(.split(program.count + 1, 0))
                    compile(inner, into: &program)
                    if program.count > maximumProgram { return }
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let loop = program.count
                program.append(.split(loop + 1, 0))
                compile(inner, into: &program)
                program.append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }

    struct Parser {
        let characters: [Character]
        var index = 0

        mutating func parseAlternatives() throws(SyntaxError) -> Node {
            var options = [try parseSequence()]
            while index < characters.count, characters[index] == "|" {
                index += 1
                options.append(try parseSequence())
            }
            return options.count == 1 ? options[0] : .alternatives(options)
        }

        mutating func parseSequence() throws(SyntaxError) -> Node {
            var nodes: [Node] = []
            while index < characters.count, characters[index] != "|", characters[index] != ")" {
                var node = try parseAtom()
                while index < characters.count, let (minimum, maximum) = try parseQuantifier() {
                    if case .start = node { throw SyntaxError(offset: index, reason: "a quantifier cannot follow an anchor") }
                    if case .end = node { throw SyntaxError(offset: index, reason: "a quantifier cannot follow an anchor") }
                    node = .repeated(node, minimum: minimum, maximum: maximum)
                }
                nodes.append(node)
            }
            return nodes.count == 1 ? nodes[0] : (nodes.isEmpty ? .empty : .sequence(nodes))
        }

        mutating func parseQuantifier() throws(SyntaxError) -> (Int, Int?)? {
            switch characters[index] {
            case "*": index += 1; return (0, nil)
            case "+": index += 1; return (1, nil)
            case "?": index += 1; return (0, 1)
            case "{":
                let start = index
                guard let close = characters[index...].firstIndex(of: "}") else { throw SyntaxError(offset: start, reason: "unclosed \"{\"") }
                let parts = String(characters[(index + 1)..<close]).split(separator: ",", omittingEmptySubsequences: false)
                guard (1...2).contains(parts.count), let minimum = Int(parts[0]),
                      parts.count == 1 || parts[1].isEmpty || Int(parts[1]) != nil else {
                    throw SyntaxError(offset: start, reason: "a repeat count must read {n}, {n,} or {n,m}")
                }
                let maximum: Int? = parts.count == 1 ? minimum : (parts[1].isEmpty ? nil : Int(parts[1]))
                guard minimum <= LinearPattern.maximumRepeat, (maximum ?? minimum) <= LinearPattern.maximumRepeat, minimum <= (maximum ?? minimum) else {
                    throw SyntaxError(offset: start, reason: "repeat counts go from 0 to \(LinearPattern.maximumRepeat), smallest first")
                }
                index = close + 1
                return (minimum, maximum)
            default:
                return nil
            }
        }

        mutating func parseAtom() throws(SyntaxError) -> Node {
            let character = characters[index]
            let offset = index
            index += 1
            switch character {
            case "^": return .start
            case "$": return .end
            case ".": return .atom(.any)
            case "(":
                if index + 1 < characters.count, characters[index] == "?", characters[index + 1] == ":" { index += 2 }
                else if index < characters.count, characters[index] == "?" {
                    throw SyntaxError(offset: index, reason: "lookaround and other (?...) groups are not supported")
                }
                let inner = try parseAlternatives()
                guard index < characters.count, characters[index] == ")" else { throw SyntaxError(offset: offset, reason: "unclosed \"(\"") }
                index += 1
                return inner
            case "[": return .atom(try parseClass(from: offset))
            case "\\": return .atom(try parseEscape())
            case "*", "+", "?", "{": throw SyntaxError(offset: offset, reason: "\"\(character)\" has nothing to repeat")
            default: return .atom(.character(Character(character.lowercased())))
            }
        }

        mutating func parseEscape() throws(SyntaxError) -> Matcher {
            guard index < characters.count else { throw SyntaxError(offset: index, reason: "a pattern cannot end with \"\\\"") }
            let character = characters[index]
            index += 1
            let digits: [ClosedRange<Character>] = ["0"..."9"]
            let word: [ClosedRange<Character>] = ["a"..."z", "0"..."9", "_"..."_"]
            let space: [ClosedRange<Character>] = [" "..." ", "\t"..."\t", "\n"..."\n", "\r"..."\r"]
            switch character {
            case "d": return .set(digits, negated: false)
            case "D": return .set(digits, negated: true)
            case "w": return .set(word, negated: false)
            case "W": return .set(word, negated: true)
            case "s": return .set(space, negated: false)
            case "S": return .set(space, negated: true)
            case "t": return .character("\t")
            case "n": return .character("\n")
            default:
                guard !character.isLetter, !character.isNumber else {
                    throw SyntaxError(offset: index - 2, reason: "unknown escape \"\\\(character)\" (backreferences are not supported)")
                }
                return .character(character)
            }
        }

        mutating func parseClass(from offset: Int) throws(SyntaxError) -> Matcher {
            var negated = false
            if index < characters.count, characters[index] == "^" { negated = true; index += 1 }
            var ranges: [ClosedRange<Character>] = []
            var first = true
            while index < characters.count, characters[index] != "]" || first {
                first = false
                var low = characters[index]
                index += 1
                if low == "\\" {
                    guard index < characters.count else { break }
                    switch try parseEscape() {
                    case .set(let escaped, negated: false):
                        ranges += escaped
                        continue
                    case .set(_, negated: true):
                        throw SyntaxError(offset: index - 2, reason: "negated escapes such as \\D cannot stand inside [...]")
                    case .character(let escaped):
                        low = escaped
                    case .any:
                        low = "."
                    }
                }
                low = Character(low.lowercased())
                if index + 1 < characters.count, characters[index] == "-", characters[index + 1] != "]" {
                    let high = Character(characters[index + 1].lowercased())
                    guard low <= high else { throw SyntaxError(offset: index, reason: "the range \(low)-\(high) is backwards") }
                    ranges.append(low...high)
                    index += 2
                } else {
                    ranges.append(low...low)
                }
            }
            guard index < characters.count else { throw SyntaxError(offset: offset, reason: "unclosed \"[\"") }
            index += 1
            return .set(ranges, negated: negated)
        }
    }
}

import Foundation
import PalisadeCore
import Testing

/// `-match` patterns run in linear time and agree with a conventional engine.
@Suite struct LinearPatternTests {
    @Test(arguments: [
        ("^web-\\d+$", "WEB-12", true), ("^web-\\d+$", "web-12a", false), ("prod", "eu-prod-3", true),
        ("^(db|web)-[a-c]{2}$", "db-ab", true), ("^(db|web)-[a-c]{2}$", "db-ad", false), ("^$", "", true),
        ("a.c", "abc", true), ("a.c", "ac", false), ("colou?r", "color", true), ("x{2,3}y", "xy", false), ("x{2,3}y", "xxxy", true),
        ("[^0-9]+", "123", false), ("\\.local$", "mac.local", true), ("\\.local$", "maclocal", false), ("(?:ab)+c", "ababc", true),
        ("^debian.*1[0-9]$", "Debian GNU/Linux 12", true), ("\\w+\\s\\w+", "hello world", true), ("[\\d_]+", "__1", true),
    ])
    func matchesLikeARegularExpression(pattern: String, text: String, expected: Bool) throws {
        #expect(try LinearPattern(pattern).matches(text) == expected)
    }

    @Test func refusesWhatCannotRunInLinearTime() {
        for (pattern, reason) in [("(a)\\1", "backreferences"), ("(?=a)", "lookaround"), ("a{1000}", "repeat counts"), ("([a-", "unclosed"), ("*a", "nothing to repeat"), ("a)", "unbalanced")] {
            #expect(throws: LinearPattern.SyntaxError.self, "\(pattern) should be refused (\(reason))") { try LinearPattern(pattern) }
        }
        #expect(throws: LinearPattern.SyntaxError.self) { try LinearPattern(String(repeating: "a", count: 300)) }
    }

    /// The pattern that makes a backtracking engine take minutes, against the longest name an
    /// inventory may carry, for every device of a large tenant's worth of distinct names.
    @Test func pathologicalPatternsStayLinear() throws {
        let pattern = try LinearPattern("^(a+)+$")
        let text = String(repeating: "a", count: 254) + "!"
        let started = ContinuousClock.now
        for _ in 0..<200 { #expect(!pattern.matches(text)) }
        let elapsed = ContinuousClock.now - started
        // Generous for a loaded machine: backtracking would take minutes per match.
        #expect(elapsed < .seconds(10), "200 matches of 255 characters took \(elapsed)")
        #expect(pattern.matches(String(repeating: "a", count: 254)))
        let nested = try LinearPattern("^((a*)*b?)*c$")
        #expect(!nested.matches(String(repeating: "a", count: 255)))
    }

    /// Random small patterns and texts: the same answers as Swift's own engine (which is fine on
    /// inputs this small).
    @Test func agreesWithSwiftRegexOnRandomInputs() throws {
        var random = SeededRandomNumberGenerator(seed: 42)
        let atoms = ["a", "b", ".", "[ab]", "[^a]", "\\d", "(a|b)", "(?:ab)", "c"]
        let quantifiers = ["", "", "*", "+", "?", "{1,2}"]
        var compared = 0
        for _ in 0..<2_000 {
            var source = Int.random(in: 0..<4, using: &random) == 0 ? "^" : ""
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                source += atoms.randomElement(using: &random)! + quantifiers.randomElement(using: &random)!
            }
            if Int.random(in: 0..<4, using: &random) == 0 { source += "$" }
            let text = String((0..<Int.random(in: 0...6, using: &random)).map { _ in "ab1cA".randomElement(using: &random)! })
            let expected = (try Regex(source).ignoresCase().firstMatch(in: text)) != nil
            #expect(try LinearPattern(source).matches(text) == expected, "\(source) on \"\(text)\"")
            compared += 1
        }
        #expect(compared == 2_000)
    }
}

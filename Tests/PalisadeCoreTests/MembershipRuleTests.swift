import PalisadeCore
import Testing

@Suite struct MembershipRuleTests {
    let prodLinux = DeviceAttributes(platform: "linux", osVersion: "Debian GNU/Linux 12", name: "web-01", tags: ["prod", "eu"], agentVersion: "0.1.0")
    let labMac = DeviceAttributes(platform: "macos", osVersion: "14.5", name: "lab-mac", tags: [], managementType: "mdm")

    @Test(arguments: [
        (#"device.platform -eq "linux""#, true, false),
        (#"device.platform -eq "LINUX""#, true, false),
        (#"device.platform -ne "linux""#, false, true),
        (#"device.tags -contains "prod""#, true, false),
        (#"device.tags -notContains "prod""#, false, true),
        (#"device.name -contains "eb-0""#, true, false),
        (#"device.name -startsWith "lab-""#, false, true),
        (#"device.name -notStartsWith "lab-""#, true, false),
        (#"device.platform -in ["linux", "windows"]"#, true, false),
        (#"device.platform -notIn ["linux", "windows"]"#, false, true),
        (#"device.osVersion -match "^debian.*1[0-9]$""#, true, false),
        (#"device.osVersion -notMatch "^14\.""#, true, false),
        (#"device.managementType -eq "mdm""#, false, true),
        (#"device.platform -eq "linux" -and device.tags -contains "prod""#, true, false),
        (#"device.platform -eq "macos" -or device.tags -contains "prod""#, true, true),
        (#"-not (device.platform -eq "linux")"#, false, true),
        (#"device.platform -eq "linux" -or device.platform -eq "macos" -and device.tags -contains "x""#, true, false),
        (#"(device.platform -eq "linux" -or device.platform -eq "macos") -and device.tags -contains "prod""#, true, false),
        (#"device.name -eq 'web-01'"#, true, false),
    ] as [(String, Bool, Bool)])
    func evaluates(rule: String, linux: Bool, mac: Bool) throws {
        let parsed = try MembershipRuleParser.parse(rule)
        #expect(parsed.evaluate(prodLinux) == linux, "\(rule) on prodLinux")
        #expect(parsed.evaluate(labMac) == mac, "\(rule) on labMac")
    }

    @Test(arguments: [
        (#"device.platfrom -eq "linux""#, 0, "one of device.platform"),
        (#"device.platform -equals "linux""#, 16, "a comparison operator"),
        (#"device.platform -eq"#, 19, "a quoted string"),
        (#"device.platform -eq "linux"#, 20, "a closing \""),
        (#"(device.platform -eq "linux""#, 28, "\")\""),
        (#"device.platform -eq "linux" device.name -eq "x""#, 28, "-and, -or or the end"),
        (#"device.platform -in "linux""#, 20, "a list"),
        (#"device.name -match "([a-""#, 19, "a valid regular expression"),
        (#"device.platform -eq "linux" -and"#, 32, "device.<attribute>"),
        (#"platform -eq "linux""#, 0, "device.<attribute>"),
        ("", 0, "device.<attribute>"),
        (#"device.tags -contains "a" $"#, 26, "device.<attribute>, an operator"),
    ] as [(String, Int, String)])
    func errorsNamePositionAndExpectation(rule: String, position: Int, expected: String) {
        do {
            _ = try MembershipRuleParser.parse(rule)
            Issue.record("\(rule) parsed")
        } catch {
            #expect(error.position == position, "\(rule): \(error)")
            #expect(error.expected.contains(expected), "\(rule): \(error)")
        }
    }

    @Test func randomInputNeverCrashesAndEveryErrorHasAPosition() {
        var rng = SeededGenerator(state: 0xF0_22)
        let pieces = [#"device.platform -eq "linux""#, #"device.tags -contains "prod""#, "device.platform", "device.tags", "device.nope", "-eq", "-and", "-or", "-not", "-in", "-match", "(", ")", "[", "]", ",",
                      "\"linux\"", "\"", "'x'", "-", "$", " ", "\"a\"\"b\"", "device.", "\"[\"", "\"(*\"", "é", "\n"]
        var parsed = 0
        for _ in 0..<5000 {
            let text = (0..<Int.random(in: 0...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined(separator: Bool.random(using: &rng) ? " " : "")
            do {
                let rule = try MembershipRuleParser.parse(text)
                _ = rule.evaluate(prodLinux)
                parsed += 1
            } catch {
                #expect((0...text.count).contains(error.position), "\(text): \(error)")
                #expect(!error.expected.isEmpty)
            }
        }
        #expect(parsed > 0, "some random inputs are valid rules")
    }

    @Test func generatedRulesPrintAndParseBackToThemselves() throws {
        var rng = SeededGenerator(state: 0x5EED)
        func randomRule(_ depth: Int) -> MembershipRule {
            if depth > 3 || Int.random(in: 0..<3, using: &rng) == 0 {
                let attribute = DeviceAttribute.allCases.randomElement(using: &rng)!
                let op = [RuleOperator.eq, .ne, .startsWith, .notStartsWith, .contains, .notContains, .in, .notIn].randomElement(using: &rng)!
                let text = SampleValues.string(&rng)
                let operand: RuleOperand = (op == .in || op == .notIn) ? .list([text, "other"]) : .string(text)
                return .comparison(attribute, op, operand)
            }
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: return .and(randomRule(depth + 1), randomRule(depth + 1))
            case 1: return .or(randomRule(depth + 1), randomRule(depth + 1))
            default: return .not(randomRule(depth + 1))
            }
        }
        for _ in 0..<500 {
            let rule = randomRule(0)
            #expect(try MembershipRuleParser.parse(rule.description) == rule, "\(rule)")
        }
    }

    @Test func deepNestingAndLongInputAreRefusedNotCrashed() {
        let deep = String(repeating: "(", count: 10_000) + #"device.name -eq "x""# + String(repeating: ")", count: 10_000)
        #expect(throws: RuleParseError.self) { try MembershipRuleParser.parse(deep) }
        let nots = String(repeating: "-not ", count: 100) + #"device.name -eq "x""#
        #expect(throws: RuleParseError.self) { try MembershipRuleParser.parse(nots) }
    }
}

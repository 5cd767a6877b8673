/// A dynamic group's membership rule, modelled on Entra ID dynamic device rules:
///
///     device.platform -eq "linux" -and (device.tags -contains "prod" -or -not device.name -startsWith "lab-")
///
/// Operators: -eq -ne -startsWith -notStartsWith -contains -notContains -in -notIn -match
/// -notMatch, combined with -and, -or, -not and parentheses. Keywords and string comparisons
/// are case-insensitive. On the list attribute `tags`, a comparison holds when it holds for
/// some tag (`-contains` and `-eq` test membership); the negated operators hold when it holds
/// for no tag.
public indirect enum MembershipRule: Sendable, Hashable {
    case comparison(DeviceAttribute, RuleOperator, RuleOperand)
    case and(MembershipRule, MembershipRule)
    case or(MembershipRule, MembershipRule)
    case not(MembershipRule)
}

public enum DeviceAttribute: String, Sendable, Hashable, CaseIterable {
    case platform
    case osVersion
    case name
    case tags
    /// Tags the agent reports from the device's own configuration: a rule may read them, but
    /// they are the device's claim, kept apart from what admins set and never deciding scope.
    case agentTags
    case managementType
    case agentVersion
    case enrolledAt
    case lastCheckInAt
    /// Defender as the agent last reported it: "true"/"false" ("" when never reported), and its version.
    case defenderInstalled = "defender.installed"
    case defenderHealthy = "defender.healthy"
    case defenderVersion = "defender.version"

    /// Holds several values: `-contains` and `-eq` test each.
    public var isList: Bool { self == .tags || self == .agentTags }
}

public enum RuleOperator: String, Sendable, Hashable, CaseIterable {
    case eq = "-eq"
    case ne = "-ne"
    case startsWith = "-startsWith"
    case notStartsWith = "-notStartsWith"
    case contains = "-contains"
    case notContains = "-notContains"
    case `in` = "-in"
    case notIn = "-notIn"
    case match = "-match"
    case notMatch = "-notMatch"

    var isNegated: Bool { [.ne, .notStartsWith, .notContains, .notIn, .notMatch].contains(self) }

    /// The positive form of a negated operator.
    var positive: RuleOperator {
        switch self {
        case .ne: .eq
        case .notStartsWith: .startsWith
        case .notContains: .contains
        case .notIn: .in
        case .notMatch: .match
        default: self
        }
    }
}

public enum RuleOperand: Sendable, Hashable {
    case string(String)
    case list([String])
    /// A compiled regular expression with its source (for -match / -notMatch).
    case pattern(RulePattern)
}

/// A regular expression checked when the rule is parsed, matched in linear time
/// (`LinearPattern`): no rule can hold a tenant's write with catastrophic backtracking.
public struct RulePattern: Sendable, Hashable {
    public let source: String
    let pattern: LinearPattern

    init(_ source: String) throws(LinearPattern.SyntaxError) {
        self.pattern = try LinearPattern(source)
        self.source = source
    }

    func matches(_ text: String) -> Bool { pattern.matches(text) }
}

/// The attributes a rule can read, as strings (times in ISO 8601, UTC).
public struct DeviceAttributes: Sendable, Hashable {
    public var platform: String
    public var osVersion: String
    public var name: String
    /// Tags admins set.
    public var tags: [String]
    /// Tags the agent reports.
    public var agentTags: [String]
    public var managementType: String
    public var agentVersion: String
    public var enrolledAt: String
    /// The UTC day of the last check-in (`2026-11-26`): rules see the day, so a device's
    /// memberships are re-evaluated once a day when it checks in, not on every check-in.
    public var lastCheckInAt: String
    /// "true", "false", or "" when the agent never said.
    public var defenderInstalled: String
    public var defenderHealthy: String
    public var defenderVersion: String

    public init(platform: String, osVersion: String = "", name: String = "", tags: [String] = [], agentTags: [String] = [], managementType: String = "palisade",
                agentVersion: String = "", enrolledAt: String = "", lastCheckInAt: String = "",
                defenderInstalled: String = "", defenderHealthy: String = "", defenderVersion: String = "") {
        self.platform = platform
        self.osVersion = osVersion
        self.name = name
        self.tags = tags
        self.agentTags = agentTags
        self.managementType = managementType
        self.agentVersion = agentVersion
        self.enrolledAt = enrolledAt
        self.lastCheckInAt = lastCheckInAt
        self.defenderInstalled = defenderInstalled
        self.defenderHealthy = defenderHealthy
        self.defenderVersion = defenderVersion
    }

    @inline(__always)
    func scalar(_ attribute: DeviceAttribute) -> String {
        switch attribute {
        case .platform: platform
        case .osVersion: osVersion
        case .name: name
        case .tags: tags.first ?? ""
        case .agentTags: agentTags.first ?? ""
        case .managementType: managementType
        case .agentVersion: agentVersion
        case .enrolledAt: enrolledAt
        case .lastCheckInAt: lastCheckInAt
        case .defenderInstalled: defenderInstalled
        case .defenderHealthy: defenderHealthy
        case .defenderVersion: defenderVersion
        }
    }

    func values(of attribute: DeviceAttribute) -> [String] {
        switch attribute {
        case .platform: [platform]
        case .osVersion: [osVersion]
        case .name: [name]
        case .tags: tags
        case .agentTags: agentTags
        case .managementType: [managementType]
        case .agentVersion: [agentVersion]
        case .enrolledAt: [enrolledAt]
        case .lastCheckInAt: [lastCheckInAt]
        case .defenderInstalled: [defenderInstalled]
        case .defenderHealthy: [defenderHealthy]
        case .defenderVersion: [defenderVersion]
        }
    }
}

extension MembershipRule {
    public func evaluate(_ device: DeviceAttributes) -> Bool {
        lowercasedOperands().evaluate(normalized: DirectoryIndex.lowercased(device))
    }

    /// Evaluates a rule whose operands are lowercased (`lowercasedOperands()`) against
    /// lowercased attributes: the directory's hot path, without allocation per comparison.
    public func evaluate(normalized device: DeviceAttributes) -> Bool {
        switch self {
        case .and(let left, let right): left.evaluate(normalized: device) && right.evaluate(normalized: device)
        case .or(let left, let right): left.evaluate(normalized: device) || right.evaluate(normalized: device)
        case .not(let inner): !inner.evaluate(normalized: device)
        case .comparison(let attribute, let op, let operand) where attribute.isList:
            Self.compare(device.values(of: attribute), op, operand, isList: true)
        case .comparison(let attribute, let op, let operand):
            // Scalar attributes: no array per comparison.
            Self.holds(device.scalar(attribute), op.positive, operand, isList: false) != op.isNegated
        }
    }

    /// The same rule with every string operand lowercased (comparisons are case-insensitive).
    public func lowercasedOperands() -> MembershipRule {
        switch self {
        case .and(let left, let right): .and(left.lowercasedOperands(), right.lowercasedOperands())
        case .or(let left, let right): .or(left.lowercasedOperands(), right.lowercasedOperands())
        case .not(let inner): .not(inner.lowercasedOperands())
        case .comparison(let attribute, let op, .string(let text)): .comparison(attribute, op, .string(text.lowercased()))
        case .comparison(let attribute, let op, .list(let items)): .comparison(attribute, op, .list(items.map { $0.lowercased() }))
        case .comparison: self
        }
    }

    static func compare(_ values: [String], _ op: RuleOperator, _ operand: RuleOperand, isList: Bool) -> Bool {
        let positive = op.positive
        let anyHolds = values.contains { Self.holds($0, positive, operand, isList: isList) }
        return op.isNegated ? !anyHolds : anyHolds
    }

    /// One comparison against one (lowercased) value; the positive form of the operator.
    @inline(__always)
    static func holds(_ text: String, _ positive: RuleOperator, _ operand: RuleOperand, isList: Bool) -> Bool {
        switch (positive, operand) {
        case (.eq, .string(let target)): text == target
        case (.startsWith, .string(let target)): text.hasPrefix(target)
        case (.contains, .string(let target)): isList ? text == target : text.contains(target)
        case (.in, .list(let targets)): targets.contains(text)
        case (.match, .pattern(let pattern)): pattern.matches(text)
        default: false
        }
    }

    /// The attributes the rule reads: a change to any other attribute cannot change membership.
    public var attributes: Set<DeviceAttribute> {
        switch self {
        case .comparison(let attribute, _, _): [attribute]
        case .and(let left, let right), .or(let left, let right): left.attributes.union(right.attributes)
        case .not(let inner): inner.attributes
        }
    }
}

extension MembershipRule: CustomStringConvertible {
    /// The rule in its canonical text form, which parses back to the same rule.
    public var description: String {
        func quote(_ text: String) -> String { "\"" + text.replacingAll("\"", with: "\"\"") + "\"" }
        switch self {
        case .comparison(let attribute, let op, let operand):
            let value: String = switch operand {
            case .string(let text): quote(text)
            case .list(let items): "[" + items.map(quote).joined(separator: ", ") + "]"
            case .pattern(let pattern): quote(pattern.source)
            }
            return "device.\(attribute.rawValue) \(op.rawValue) \(value)"
        case .and(let left, let right): return "(\(left) -and \(right))"
        case .or(let left, let right): return "(\(left) -or \(right))"
        case .not(let inner): return "-not \(inner)"
        }
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}

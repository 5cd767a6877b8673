/// What changed between two revisions of a policy: from `against` (the base) to `revision`.
/// Settings are compared by id, values as whole JSON values (a list setting that changed is one
/// change with its old and new list).
public struct PolicyRevisionDiff: Codable, Sendable, Hashable {
    public struct SettingValue: Codable, Sendable, Hashable {
        public var settingId: String
        public var value: JSONValue

        public init(settingId: String, value: JSONValue) {
            self.settingId = settingId
            self.value = value
        }
    }

    public struct SettingChange: Codable, Sendable, Hashable {
        public var settingId: String
        public var oldValue: JSONValue
        public var newValue: JSONValue

        public init(settingId: String, oldValue: JSONValue, newValue: JSONValue) {
            self.settingId = settingId
            self.oldValue = oldValue
            self.newValue = newValue
        }
    }

    public struct TextChange: Codable, Sendable, Hashable {
        public var oldValue: String
        public var newValue: String

        public init(oldValue: String, newValue: String) {
            self.oldValue = oldValue
            self.newValue = newValue
        }
    }

    /// The policy's content at one revision: what the diff compares.
    public struct Content: Sendable, Hashable {
        public var revision: Int
        public var name: String
        public var description: String
        public var settings: [String: JSONValue]

        public init(revision: Int, name: String, description: String, settings: [String: JSONValue]) {
            self.revision = revision
            self.name = name
            self.description = description
            self.settings = settings
        }
    }

    public var policyId: String
    /// The revision the changes lead to.
    public var revision: Int
    /// The revision the changes start from.
    public var against: Int
    /// Present only when the name changed.
    public var name: TextChange?
    /// Present only when the description changed.
    public var description: TextChange?
    /// Settings in `revision` but not in `against`, by id.
    public var added: [SettingValue]
    /// Settings in `against` but not in `revision`, by id.
    public var removed: [SettingValue]
    /// Settings in both with different values, by id.
    public var changed: [SettingChange]

    /// True when both revisions hold the same name, description and settings.
    public var isEmpty: Bool { name == nil && description == nil && added.isEmpty && removed.isEmpty && changed.isEmpty }

    public init(policyId: String, from base: Content, to target: Content) {
        self.policyId = policyId
        revision = target.revision
        against = base.revision
        name = base.name == target.name ? nil : TextChange(oldValue: base.name, newValue: target.name)
        description = base.description == target.description ? nil : TextChange(oldValue: base.description, newValue: target.description)
        added = target.settings.keys.filter { base.settings[$0] == nil }.sorted().map { SettingValue(settingId: $0, value: target.settings[$0]!) }
        removed = base.settings.keys.filter { target.settings[$0] == nil }.sorted().map { SettingValue(settingId: $0, value: base.settings[$0]!) }
        changed = target.settings.keys.sorted().compactMap { id in
            guard let old = base.settings[id], let new = target.settings[id], !Self.same(old, new) else { return nil }
            return SettingChange(settingId: id, oldValue: old, newValue: new)
        }
    }

    /// Equal values, where a whole number stored as a number equals the same integer (JSON
    /// does not tell 1 from 1.0; a value read back from storage may come either way).
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.integer(let i), .number(let d)), (.number(let d), .integer(let i)): return Double(i) == d
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)): return x.count == y.count && x.allSatisfy { key, value in y[key].map { same(value, $0) } ?? false }
        default: return a == b
        }
    }
}

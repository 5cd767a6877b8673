/// The type of a setting's value, with the constraints that validation enforces.
public indirect enum SettingValueType: Sendable, Hashable {
    case boolean
    /// A whole number within an inclusive range.
    case integer(minimum: Int64?, maximum: Int64?)
    /// One of the vendor's spellings.
    case enumeration([String])
    case string(minLength: Int)
    case stringList
    /// A list of objects, each validated against `item`.
    case objectList(ObjectSchema)

    /// Human description used in validation messages.
    public var expectation: String {
        switch self {
        case .boolean: return "a boolean"
        case .integer(let minimum, let maximum):
            switch (minimum, maximum) {
            case let (min?, max?): return "an integer from \(min) to \(max)"
            case let (min?, nil): return "an integer of at least \(min)"
            case let (nil, max?): return "an integer of at most \(max)"
            case (nil, nil): return "an integer"
            }
        case .enumeration(let values): return "one of " + values.map { "\"\($0)\"" }.joined(separator: ", ")
        case .string(let minLength): return minLength > 0 ? "a non-empty string" : "a string"
        case .stringList: return "an array of strings"
        case .objectList(let schema): return "an array of objects with fields " + schema.fields.map(\.name).joined(separator: ", ")
        }
    }

    public var isList: Bool {
        switch self {
        case .stringList, .objectList: true
        default: false
        }
    }
}

/// The fields of the objects in an object-list setting (exclusions, EDR tags, ...).
public struct ObjectSchema: Sendable, Hashable {
    public struct Field: Sendable, Hashable {
        public var name: String
        public var type: SettingValueType
        public var required: Bool
        /// When set, the field is allowed only when `discriminator` has one of these values.
        public var onlyWhen: Set<String>?

        public init(_ name: String, _ type: SettingValueType, required: Bool = false, onlyWhen: Set<String>? = nil) {
            self.name = name
            self.type = type
            self.required = required
            self.onlyWhen = onlyWhen
        }
    }

    public var fields: [Field]
    /// A field whose value selects which other fields apply (`$type` of exclusions).
    public var discriminator: String?
    /// For each discriminator value, the fields it requires.
    public var requiredByDiscriminator: [String: [String]]

    public init(fields: [Field], discriminator: String? = nil, requiredByDiscriminator: [String: [String]] = [:]) {
        self.fields = fields
        self.discriminator = discriminator
        self.requiredByDiscriminator = requiredByDiscriminator
    }
}

/// How values of one setting from several policies combine on a device.
public enum MergeBehavior: String, Sendable, Hashable, Codable {
    /// Different values are a conflict; the setting is not delivered.
    case conflict
    /// Lists are unioned (exclusions, allowed threats, tags).
    case union
}

/// One Defender setting that Palisade can manage.
public struct SettingDefinition: Sendable, Hashable {
    /// The setting id; on Linux and macOS the dotted key path in the managed preferences.
    public var id: String
    public var platforms: Set<PolicyPlatform>
    public var template: PolicyTemplate
    public var title: String
    public var description: String
    public var type: SettingValueType
    public var merge: MergeBehavior

    public init(
        id: String,
        platforms: Set<PolicyPlatform>,
        template: PolicyTemplate,
        title: String,
        description: String,
        type: SettingValueType,
        merge: MergeBehavior? = nil
    ) {
        self.id = id
        self.platforms = platforms
        self.template = template
        self.title = title
        self.description = description
        self.type = type
        self.merge = merge ?? (type.isList ? .union : .conflict)
    }

    /// Dotted key path segments for JSON and plist rendering.
    public var keyPath: [Substring] { id.split(separator: ".") }
}

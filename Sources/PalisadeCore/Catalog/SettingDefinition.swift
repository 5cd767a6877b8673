/// The type of a setting's value, with the constraints that validation enforces.
public indirect enum SettingValueType: Sendable, Hashable, Codable {
    case boolean
    /// A whole number within an inclusive range.
    case integer(minimum: Int64?, maximum: Int64?)
    /// One of the vendor's string spellings.
    case enumeration([String])
    /// One of the vendor's numeric values (Windows), each with its label.
    case integerEnumeration([EnumOption])
    case string(minLength: Int)
    case stringList
    /// A list of strings, each one of the vendor's spellings.
    case enumerationList([String])
    /// A list of objects, each validated against the schema.
    case objectList(ObjectSchema)
    /// A JSON object from keys (optionally a fixed set, such as ASR rule GUIDs) to values.
    case keyedMap(keys: [EnumOption]?, value: SettingValueType)

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
        case .integerEnumeration(let options): return "one of " + options.map { "\($0.value) (\($0.label))" }.joined(separator: ", ")
        case .string(let minLength): return minLength > 0 ? "a non-empty string" : "a string"
        case .stringList: return "an array of strings"
        case .enumerationList(let values): return "an array of values from " + values.map { "\"\($0)\"" }.joined(separator: ", ")
        case .objectList(let schema): return "an array of objects with fields " + schema.fields.map(\.name).joined(separator: ", ")
        case .keyedMap(let keys, let value):
            let keyText = keys.map { "keys from " + $0.map(\.value).joined(separator: ", ") } ?? "string keys"
            return "an object with \(keyText) and values \(value.expectation)"
        }
    }

    public var isList: Bool {
        switch self {
        case .stringList, .enumerationList, .objectList: true
        default: false
        }
    }
}

/// One allowed value of an enumeration, with the vendor's label.
public struct EnumOption: Sendable, Hashable, Codable {
    public var value: String
    public var label: String

    public init(_ value: String, _ label: String) {
        self.value = value
        self.label = label
    }
}

/// The fields of the objects in an object-list setting (exclusions, EDR tags, firewall rules).
public struct ObjectSchema: Sendable, Hashable, Codable {
    public struct Field: Sendable, Hashable, Codable {
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
    /// The field that identifies an item across policies (firewall rule name): items with the
    /// same key and different content conflict.
    public var keyField: String?
    /// The most items the list may hold (the vendor schema's `maxItems`).
    public var maxItems: Int?

    public init(fields: [Field], discriminator: String? = nil, requiredByDiscriminator: [String: [String]] = [:], keyField: String? = nil, maxItems: Int? = nil) {
        self.fields = fields
        self.discriminator = discriminator
        self.requiredByDiscriminator = requiredByDiscriminator
        self.keyField = keyField
        self.maxItems = maxItems
    }
}

/// How values of one setting from several policies combine on a device.
public enum MergeBehavior: String, Sendable, Hashable, Codable {
    /// Different values are a conflict; the setting is not delivered.
    case conflict
    /// Lists are unioned (exclusions, allowed threats, tags).
    case union
    /// Keyed maps (ASR rules) and keyed object lists (firewall rules) are unioned by key; one
    /// key with two different values is a conflict for that key only.
    case keyedUnion
}

/// One Defender setting that Palisade can manage.
public struct SettingDefinition: Sendable, Hashable, Codable {
    /// The setting id: on Linux and macOS the dotted key path in the managed preferences; on
    /// Windows the Policy CSP name (`Defender/AllowRealtimeMonitoring`).
    public var id: String
    public var platforms: Set<PolicyPlatform>
    public var template: PolicyTemplate
    public var title: String
    public var description: String
    public var type: SettingValueType
    public var merge: MergeBehavior
    /// The vendor's default, when it states one.
    public var defaultValue: JSONValue?
    /// Where the value lands on Windows; nil for key-path platforms.
    public var registry: RegistryTarget?

    public init(
        id: String,
        platforms: Set<PolicyPlatform>,
        template: PolicyTemplate,
        title: String,
        description: String,
        type: SettingValueType,
        merge: MergeBehavior? = nil,
        defaultValue: JSONValue? = nil,
        registry: RegistryTarget? = nil
    ) {
        self.id = id
        self.platforms = platforms
        self.template = template
        self.title = title
        self.description = description
        self.type = type
        self.merge = merge ?? Self.defaultMerge(for: type)
        self.defaultValue = defaultValue
        self.registry = registry
    }

    static func defaultMerge(for type: SettingValueType) -> MergeBehavior {
        switch type {
        case .keyedMap: .keyedUnion
        case .objectList(let schema) where schema.keyField != nil: .keyedUnion
        case .stringList, .enumerationList, .objectList: .union
        default: .conflict
        }
    }

    /// Dotted key path segments for JSON and plist rendering.
    public var keyPath: [Substring] { id.split(separator: ".") }
}

// Sets encode sorted, so that the generated catalog is byte-for-byte reproducible.
extension SettingDefinition {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(platforms.sorted { $0.rawValue < $1.rawValue }, forKey: .platforms)
        try container.encode(template, forKey: .template)
        try container.encode(title, forKey: .title)
        try container.encode(description, forKey: .description)
        try container.encode(type, forKey: .type)
        try container.encode(merge, forKey: .merge)
        try container.encodeIfPresent(defaultValue, forKey: .defaultValue)
        try container.encodeIfPresent(registry, forKey: .registry)
    }
}

extension ObjectSchema.Field {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(type, forKey: .type)
        try container.encode(required, forKey: .required)
        try container.encodeIfPresent(onlyWhen?.sorted(), forKey: .onlyWhen)
    }
}

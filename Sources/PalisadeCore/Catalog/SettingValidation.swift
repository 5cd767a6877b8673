/// Why a value was refused for a setting: which setting, where inside the value, what was
/// expected and what was given. A value, not a thrown error, so that all problems of a policy
/// can be reported at once.
public struct SettingProblem: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case unknownSetting
        case wrongPlatform
        case wrongTemplate
        case invalidValue
    }

    public var kind: Kind
    public var settingId: String
    /// Location inside the value, e.g. `antivirusEngine.exclusions[1].path`.
    public var path: String
    public var expected: String
    public var given: String

    public init(kind: Kind, settingId: String, path: String, expected: String, given: String) {
        self.kind = kind
        self.settingId = settingId
        self.path = path
        self.expected = expected
        self.given = given
    }

    public var message: String {
        switch kind {
        case .unknownSetting, .wrongPlatform, .wrongTemplate:
            return "\(settingId): \(expected)"
        case .invalidValue:
            return "\(path): expected \(expected), got \(given)"
        }
    }
}

public enum SettingValidator {
    /// Bounds on any list and any string, whatever the schema says: a policy is data that
    /// every targeted device downloads and every recompute merges.
    public static let maximumListItems = 1_000
    public static let maximumStringLength = 4_096

    /// Checks `value` against `definition`; returns every problem found (empty when valid).
    public static func problems(in value: JSONValue, for definition: SettingDefinition) -> [SettingProblem] {
        var problems: [SettingProblem] = []
        check(value, type: definition.type, path: definition.id, settingId: definition.id, into: &problems)
        return problems
    }

    static func check(_ value: JSONValue, type: SettingValueType, path: String, settingId: String, into problems: inout [SettingProblem]) {
        func fail(_ expected: String? = nil) {
            problems.append(.init(kind: .invalidValue, settingId: settingId, path: path, expected: expected ?? type.expectation, given: given(value)))
        }
        if let string = value.stringValue, string.count > maximumStringLength {
            return fail("at most \(maximumStringLength) characters")
        }
        if let items = value.arrayValue, items.count > maximumListItems {
            return problems.append(.init(kind: .invalidValue, settingId: settingId, path: path, expected: "at most \(maximumListItems) items", given: "\(items.count) items"))
        }
        if let object = value.objectValue, object.count > maximumListItems {
            return problems.append(.init(kind: .invalidValue, settingId: settingId, path: path, expected: "at most \(maximumListItems) entries", given: "\(object.count) entries"))
        }
        switch type {
        case .boolean:
            if value.boolValue == nil { fail() }
        case .integer(let minimum, let maximum):
            guard let integer = value.integerValue else { return fail() }
            if let minimum, integer < minimum { fail() }
            if let maximum, integer > maximum { fail() }
        case .enumeration(let allowed):
            guard let string = value.stringValue, allowed.contains(string) else { return fail() }
        case .integerEnumeration(let options):
            guard let integer = value.integerValue, options.contains(where: { $0.value == String(integer) }) else { return fail() }
        case .string(let minLength):
            guard let string = value.stringValue else { return fail() }
            if string.count < minLength { fail() }
        case .stringList:
            guard let items = value.arrayValue else { return fail() }
            for (index, item) in items.enumerated() where item.stringValue == nil {
                problems.append(.init(kind: .invalidValue, settingId: settingId, path: "\(path)[\(index)]", expected: "a string", given: given(item)))
            }
        case .enumerationList(let allowed):
            guard let items = value.arrayValue else { return fail() }
            for (index, item) in items.enumerated() where !(item.stringValue.map(allowed.contains) ?? false) {
                problems.append(.init(kind: .invalidValue, settingId: settingId, path: "\(path)[\(index)]", expected: "one of " + allowed.map { "\"\($0)\"" }.joined(separator: ", "), given: given(item)))
            }
        case .objectList(let schema):
            guard let items = value.arrayValue else { return fail() }
            if let maxItems = schema.maxItems, items.count > maxItems {
                problems.append(.init(kind: .invalidValue, settingId: settingId, path: path, expected: "at most \(maxItems) item\(maxItems == 1 ? "" : "s")", given: "\(items.count) items"))
            }
            var seenKeys: Set<String> = []
            for (index, item) in items.enumerated() {
                checkObject(item, schema: schema, path: "\(path)[\(index)]", settingId: settingId, into: &problems)
                if let keyField = schema.keyField, let key = item.objectValue?[keyField]?.stringValue, !seenKeys.insert(key).inserted {
                    problems.append(.init(kind: .invalidValue, settingId: settingId, path: "\(path)[\(index)].\(keyField)", expected: "a \(keyField) not used by another item", given: given(.string(key))))
                }
            }
        case .keyedMap(let keys, let valueType):
            guard let object = value.objectValue else { return fail() }
            for (key, item) in object.sorted(by: { $0.key < $1.key }) {
                if let keys, !keys.contains(where: { $0.value.lowercased() == key.lowercased() }) {
                    problems.append(.init(kind: .invalidValue, settingId: settingId, path: "\(path).\(key)", expected: "a key from " + keys.map(\.value).joined(separator: ", "), given: given(.string(key))))
                    continue
                }
                check(item, type: valueType, path: "\(path).\(key)", settingId: settingId, into: &problems)
            }
        }
    }

    static func checkObject(_ value: JSONValue, schema: ObjectSchema, path: String, settingId: String, into problems: inout [SettingProblem]) {
        guard let object = value.objectValue else {
            problems.append(.init(kind: .invalidValue, settingId: settingId, path: path, expected: "an object with fields " + schema.fields.map(\.name).joined(separator: ", "), given: given(value)))
            return
        }
        let fieldsByName = Dictionary(uniqueKeysWithValues: schema.fields.map { ($0.name, $0) })
        let discriminatorValue = schema.discriminator.flatMap { object[$0]?.stringValue }
        for key in object.keys.sorted() where fieldsByName[key] == nil {
            problems.append(.init(kind: .invalidValue, settingId: settingId, path: "\(path).\(key)", expected: "no such field (allowed: " + schema.fields.map(\.name).joined(separator: ", ") + ")", given: given(object[key]!)))
        }
        for field in schema.fields {
            let fieldPath = "\(path).\(field.name)"
            if let fieldValue = object[field.name] {
                if let onlyWhen = field.onlyWhen, let discriminator = schema.discriminator, let discriminatorValue, !onlyWhen.contains(discriminatorValue) {
                    problems.append(.init(kind: .invalidValue, settingId: settingId, path: fieldPath, expected: "no \(field.name) when \(discriminator) is \"\(discriminatorValue)\"", given: given(fieldValue)))
                    continue
                }
                check(fieldValue, type: field.type, path: fieldPath, settingId: settingId, into: &problems)
            } else if field.required {
                problems.append(.init(kind: .invalidValue, settingId: settingId, path: fieldPath, expected: "a required field: \(field.type.expectation)", given: "nothing"))
            }
        }
        if let discriminatorValue, let required = schema.requiredByDiscriminator[discriminatorValue] {
            for name in required where object[name] == nil {
                let type = fieldsByName[name]?.type.expectation ?? "a value"
                problems.append(.init(kind: .invalidValue, settingId: settingId, path: "\(path).\(name)", expected: "\(type) (required when \(schema.discriminator!) is \"\(discriminatorValue)\")", given: "nothing"))
            }
        }
    }

    static func given(_ value: JSONValue) -> String {
        let text = value.description
        return text.count > 80 ? String(text.prefix(77)) + "..." : text
    }
}

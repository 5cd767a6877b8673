import Foundation
import PalisadeCore

typealias SeededGenerator = SeededRandomNumberGenerator

extension SeededRandomNumberGenerator {
    init(state: UInt64) { self.init(seed: state) }
}

/// Random values for a setting type: valid ones (which must validate, render and parse back)
/// and invalid ones (which must be refused).
enum SampleValues {
    static let alphabet = Array("abcXYZ019 _-./\\&<>\"'é")

    static func string(_ rng: inout SeededGenerator, minLength: Int = 1) -> String {
        let length = Int.random(in: max(minLength, 1)...12, using: &rng)
        return String((0..<length).map { _ in alphabet.randomElement(using: &rng)! })
    }

    static func valid(_ type: SettingValueType, _ rng: inout SeededGenerator) -> JSONValue {
        switch type {
        case .boolean:
            return .bool(Bool.random(using: &rng))
        case .integer(let minimum, let maximum):
            let low = minimum ?? -1000
            let high = maximum.map { min($0, low + 1_000_000) } ?? low + 1000
            return .integer(Int64.random(in: low...high, using: &rng))
        case .enumeration(let values):
            return .string(values.randomElement(using: &rng)!)
        case .integerEnumeration(let options):
            return .integer(Int64(options.randomElement(using: &rng)!.value)!)
        case .string(let minLength):
            return .string(string(&rng, minLength: minLength))
        case .stringList:
            var items: [String] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let item = string(&rng)
                if !items.contains(where: { $0.lowercased() == item.lowercased() }) { items.append(item) }
            }
            return .array(items.map(JSONValue.string))
        case .enumerationList(let values):
            return .array(values.filter { _ in Bool.random(using: &rng) }.map(JSONValue.string))
        case .objectList(let schema):
            var items: [JSONValue] = []
            var keys: Set<String> = []
            let count = min(Int.random(in: 1...3, using: &rng), schema.maxItems ?? 3)
            for _ in 0..<count {
                let item = object(schema, &rng)
                if let keyField = schema.keyField, let key = item.objectValue?[keyField]?.description, !keys.insert(key).inserted { continue }
                items.append(item)
            }
            return .array(items)
        case .keyedMap(let keys, let value):
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let key = keys?.randomElement(using: &rng)?.value ?? String(Int.random(in: 1...2_000_000_000, using: &rng))
                object[key] = valid(value, &rng)
            }
            return .object(object)
        }
    }

    static func object(_ schema: ObjectSchema, _ rng: inout SeededGenerator) -> JSONValue {
        var object: [String: JSONValue] = [:]
        var discriminatorValue: String?
        if let discriminator = schema.discriminator, let field = schema.fields.first(where: { $0.name == discriminator }) {
            let value = valid(field.type, &rng)
            object[discriminator] = value
            discriminatorValue = value.stringValue
        }
        for field in schema.fields where object[field.name] == nil {
            if let onlyWhen = field.onlyWhen, let discriminatorValue, !onlyWhen.contains(discriminatorValue) { continue }
            let requiredHere = field.required || (discriminatorValue.flatMap { schema.requiredByDiscriminator[$0] }?.contains(field.name) ?? false)
            if requiredHere || Bool.random(using: &rng) {
                object[field.name] = valid(field.type, &rng)
            }
        }
        return .object(object)
    }

    /// A value of the wrong shape or out of range for `type`.
    static func invalid(_ type: SettingValueType, _ rng: inout SeededGenerator) -> JSONValue {
        switch type {
        case .boolean: return ["yes", 1, .null].randomElement(using: &rng)!
        case .integer(_, let maximum): return maximum.map { .integer($0 + 1) } ?? "12"
        case .enumeration: return "not-a-vendor-value"
        case .integerEnumeration: return .integer(987_654)
        case .string: return .integer(42)
        case .stringList: return ["a", .integer(1)]
        case .enumerationList: return ["not-a-vendor-value"]
        case .objectList: return [.integer(42)]
        case .keyedMap(let keys, _): return keys == nil ? "not-an-object" : .object(["not-a-known-key": 1])
        }
    }
}

import Foundation
import Mustache
import PalisadeCore

/// The policy editor generated from the catalog: one field per setting of the platform and
/// template, typed by the setting's value type, and the reverse (a submitted form back into
/// setting values). A setting left "not configured" is not in the policy.
///
/// Field names: `s.<id>` for one value or a list (one value per line or per checkbox),
/// `o.<id>.<field>` repeated once per row for object lists, `k.<id>.<key>` per fixed key of a
/// keyed map, `kk.<id>` / `kv.<id>` per row of a keyed map with free keys.
struct PolicyForm {
    let definitions: [SettingDefinition]

    init(catalog: SettingCatalog, platform: PolicyPlatform, template: PolicyTemplate) {
        definitions = catalog.definitions(platform: platform, template: template).sorted { $0.id < $1.id }
    }

    // MARK: Form -> settings

    /// The settings a form sets, and the values that could not even be read as their type
    /// (a word where a number belongs), as problems beside their setting.
    func settings(from form: FormData) -> (settings: [String: JSONValue], problems: [SettingProblem]) {
        var settings: [String: JSONValue] = [:]
        var problems: [SettingProblem] = []
        for definition in definitions {
            do {
                if let value = try value(of: definition, in: form) { settings[definition.id] = value }
            } catch let problem as SettingProblem {
                problems.append(problem)
            } catch {}
        }
        return (settings, problems)
    }

    private func value(of definition: SettingDefinition, in form: FormData) throws -> JSONValue? {
        let id = definition.id
        switch definition.type {
        case .objectList(let schema):
            let columns = schema.fields.map { form.all("o.\(id).\($0.name)") }
            let rows = columns.map(\.count).max() ?? 0
            var items: [JSONValue] = []
            for row in 0..<rows {
                var object: [String: JSONValue] = [:]
                for (field, column) in zip(schema.fields, columns) where row < column.count {
                    let text = column[row].trimmingCharacters(in: .whitespacesAndNewlines)
                    guard !text.isEmpty else { continue }
                    object[field.name] = try Self.scalar(text, type: field.type, path: "\(id)[\(items.count)].\(field.name)", settingId: id)
                }
                if !object.isEmpty { items.append(.object(object)) }
            }
            return items.isEmpty && !form.has("configured.\(id)") ? nil : .array(items)
        case .keyedMap(let keys?, let valueType):
            var object: [String: JSONValue] = [:]
            for key in keys {
                guard let text = form["k.\(id).\(key.value)"], !text.isEmpty else { continue }
                object[key.value] = try Self.scalar(text, type: valueType, path: "\(id).\(key.value)", settingId: id)
            }
            return object.isEmpty ? nil : .object(object)
        case .keyedMap(nil, let valueType):
            var object: [String: JSONValue] = [:]
            for (key, text) in zip(form.all("kk.\(id)"), form.all("kv.\(id)")) {
                let key = key.trimmingCharacters(in: .whitespaces), text = text.trimmingCharacters(in: .whitespaces)
                guard !key.isEmpty || !text.isEmpty else { continue }
                object[key] = try Self.scalar(text, type: valueType, path: "\(id).\(key)", settingId: id)
            }
            return object.isEmpty ? nil : .object(object)
        case .stringList:
            guard let text = form["s.\(id)"] else { return nil }
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return lines.isEmpty && !form.has("configured.\(id)") ? nil : .array(lines.map(JSONValue.string))
        case .enumerationList:
            let chosen = form.all("s.\(id)").filter { !$0.isEmpty }
            return chosen.isEmpty && !form.has("configured.\(id)") ? nil : .array(chosen.map(JSONValue.string))
        default:
            guard let text = form["s.\(id)"], !text.isEmpty else { return nil }
            return try Self.scalar(text, type: definition.type, path: id, settingId: id)
        }
    }

    /// One typed value from its text; what the validator checks next (ranges, spellings) is
    /// left to it, so that the messages are the API's.
    static func scalar(_ text: String, type: SettingValueType, path: String, settingId: String) throws -> JSONValue {
        func refuse(_ expected: String) -> SettingProblem {
            SettingProblem(kind: .invalidValue, settingId: settingId, path: path, expected: expected, given: "\"\(text)\"")
        }
        switch type {
        case .boolean:
            switch text.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: throw refuse("true or false")
            }
        case .integer:
            guard let number = Int64(text) else { throw refuse(type.expectation) }
            return .integer(number)
        case .integerEnumeration:
            guard let number = Int64(text) else { throw refuse(type.expectation) }
            return .integer(number)
        case .stringList, .enumerationList:
            return .array(text.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) })
        default:
            return .string(text)
        }
    }

    // MARK: Settings -> fields

    /// One field block per setting, filled from `values`, with the problems of each beside it.
    func fields(values: [String: JSONValue], problems: [SettingProblem]) -> [Field] {
        let byId = Dictionary(grouping: problems, by: \.settingId)
        return definitions.map { definition in
            let value = values[definition.id]
            let id = definition.id
            var field = Field(
                id: id, inputId: Self.inputId(id), title: definition.title,
                description: Show.text(definition.description),
                default: definition.defaultValue.map(Show.json),
                expectation: definition.type.expectation,
                problem: byId[id].map { $0.map(\.message).joined(separator: "; ") })
            switch definition.type {
            case .boolean:
                field.select = .init(options: Self.options([("true", "True"), ("false", "False")], selected: value.flatMap { $0.boolValue.map { $0 ? "true" : "false" } }))
            case .enumeration(let values):
                field.select = .init(options: Self.options(values.map { ($0, $0) }, selected: value?.stringValue))
            case .integerEnumeration(let options):
                field.select = .init(options: Self.options(options.map { ($0.value, "\($0.value): \($0.label)") }, selected: value?.integerValue.map(String.init)))
            case .integer(let minimum, let maximum):
                field.number = .init(value: value.map(Show.json) ?? "", min: minimum.map(String.init), max: maximum.map(String.init))
            case .string:
                field.text = .init(value: value?.stringValue ?? "")
            case .stringList:
                field.lines = .init(value: (value?.arrayValue ?? []).map(Show.json).joined(separator: "\n"), configured: value != nil)
            case .enumerationList(let values):
                let chosen = Set((value?.arrayValue ?? []).compactMap(\.stringValue))
                field.checkboxes = .init(boxes: values.enumerated().map { index, option in
                    .init(value: option, checked: chosen.contains(option), boxId: Self.inputId(id) + "-\(index)")
                })
            case .keyedMap(let keys?, let valueType):
                let current = value?.objectValue ?? [:]
                field.keyed = .init(keys: keys.enumerated().map { index, key in
                    .init(key: key.value, label: key.label, keyInputId: Self.inputId(id) + "-k\(index)",
                          options: Self.valueOptions(valueType, selected: current[key.value]))
                })
            case .keyedMap(nil, _):
                let current = (value?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, Show.json($0.value)) }
                field.pairs = .init(rows: (current + [("", "")]).enumerated().map { index, pair in
                    .init(key: pair.0, value: pair.1, n: index + 1)
                }, rowsId: Self.inputId(id) + "-rows")
            case .objectList(let schema):
                let items = (value?.arrayValue ?? []).compactMap(\.objectValue)
                let rows = items + [[:]]
                field.objectList = .init(
                    columns: schema.fields.map { .init(name: $0.name, required: $0.required, hint: $0.type.expectation) },
                    rows: rows.enumerated().map { index, item in
                        .init(n: index + 1, cells: schema.fields.map { column in
                            .init(name: "o.\(id).\(column.name)", value: item[column.name].map(Show.json) ?? "",
                                  label: "\(column.name), row \(index + 1)")
                        })
                    },
                    rowsId: Self.inputId(id) + "-rows",
                    configured: value != nil)
            }
            field.composite = field.checkboxes != nil || field.keyed != nil || field.pairs != nil || field.objectList != nil
            return field
        }
    }

    static func options(_ pairs: [(String, String)], selected: String?) -> [Choice] {
        [Choice(value: "", label: "Not configured", selected: selected == nil)] + pairs.map { value, label in
            Choice(value: value, label: label, selected: value == selected)
        }
    }

    static func valueOptions(_ type: SettingValueType, selected: JSONValue?) -> [Choice] {
        switch type {
        case .integerEnumeration(let choices):
            options(choices.map { ($0.value, "\($0.value): \($0.label)") }, selected: selected?.integerValue.map(String.init))
        case .enumeration(let values):
            options(values.map { ($0, $0) }, selected: selected?.stringValue)
        case .boolean:
            options([("true", "True"), ("false", "False")], selected: selected?.boolValue.map { $0 ? "true" : "false" })
        default:
            options([], selected: nil)
        }
    }

    /// An HTML id for a setting id (`Defender/AllowX` -> `setting-Defender-AllowX`).
    static func inputId(_ settingId: String) -> String {
        "setting-" + String(settingId.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
    }
}

extension PolicyForm {
    /// One setting's block in the editor (`{{#fields}}` in `policy-form.mustache`): its label
    /// and help, and exactly one of the inputs below, by the setting's type.
    struct Field: Sendable {
        let id: String
        let inputId: String
        let title: String
        /// Absent for a few settings; never nil, or `{{#description}}` would find the page's
        /// own `description` (the policy's) and show it under the setting.
        let description: AbsentText
        let `default`: String?
        let expectation: String
        /// The problems with the value sent, beside the input.
        let problem: String?
        var select: Select?
        var number: Number?
        var text: Text?
        var lines: Lines?
        var checkboxes: Checkboxes?
        var keyed: Keyed?
        var pairs: Pairs?
        var objectList: ObjectList?
        /// Several inputs (a group labelled by the title) rather than one labelled input.
        var composite = false

        init(id: String, inputId: String, title: String, description: String?, default: String?, expectation: String, problem: String?) {
            self.id = id
            self.inputId = inputId
            self.title = title
            self.description = AbsentText(description)
            self.default = `default`
            self.expectation = expectation
            self.problem = problem
        }
    }

    /// A choice of values (booleans, enumerations), "Not configured" first.
    struct Select: Sendable {
        let options: [Choice]
    }

    struct Number: Sendable {
        let value: String
        let min: String?
        let max: String?
    }

    struct Text: Sendable {
        let value: String
    }

    /// A list of strings, one per line.
    struct Lines: Sendable {
        let value: String
        let configured: Bool
    }

    /// A list of strings from the vendor's spellings, a checkbox each.
    struct Checkboxes: Sendable {
        struct Box: Sendable {
            let value: String
            let checked: Bool
            let boxId: String
        }

        let boxes: [Box]
    }

    /// A map with a fixed set of keys (ASR rules), a select per key.
    struct Keyed: Sendable {
        struct Key: Sendable {
            let key: String
            let label: String
            let keyInputId: String
            let options: [Choice]
        }

        let keys: [Key]
    }

    /// A map with free keys: key and value rows, and an empty row to add one.
    struct Pairs: Sendable {
        struct Row: Sendable {
            let key: String
            let value: String
            /// The row's number, from 1.
            let n: Int
        }

        let rows: [Row]
        let rowsId: String
    }

    /// A list of objects: a column per field, a row per object, and an empty row to add one.
    struct ObjectList: Sendable {
        struct Column: Sendable {
            let name: String
            let required: Bool
            let hint: String
        }

        struct Row: Sendable {
            let n: Int
            let cells: [Cell]
        }

        struct Cell: Sendable {
            /// The input's name (`o.<setting>.<field>`).
            let name: String
            let value: String
            let label: String
        }

        let columns: [Column]
        let rows: [Row]
        let rowsId: String
        let configured: Bool
    }
}

/// Text that may be absent, and is then an empty section where it is found instead of being
/// looked up further out (a nil optional would be).
struct AbsentText: MustacheCustomRenderable, Sendable {
    let text: String?

    init(_ text: String?) { self.text = text }

    var renderText: String { text ?? "" }
    var isNull: Bool { text == nil }
}

extension SettingProblem: Error {}

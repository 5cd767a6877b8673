import Foundation
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
    func fields(values: [String: JSONValue], problems: [SettingProblem]) -> [[String: Any]] {
        let byId = Dictionary(grouping: problems, by: \.settingId)
        return definitions.map { definition in
            let value = values[definition.id]
            let id = definition.id
            var field: [String: Any] = [
                "id": id, "inputId": Self.inputId(id), "title": definition.title,
                "description": Show.text(definition.description) as Any,
                "default": definition.defaultValue.map(Show.json) as Any,
                "expectation": definition.type.expectation,
                "problem": byId[id].map { $0.map(\.message).joined(separator: "; ") } as Any,
            ]
            switch definition.type {
            case .boolean:
                field["select"] = ["options": Self.options([("true", "True"), ("false", "False")], selected: value.flatMap { $0.boolValue.map { $0 ? "true" : "false" } })]
            case .enumeration(let values):
                field["select"] = ["options": Self.options(values.map { ($0, $0) }, selected: value?.stringValue)]
            case .integerEnumeration(let options):
                field["select"] = ["options": Self.options(options.map { ($0.value, "\($0.value): \($0.label)") }, selected: value?.integerValue.map(String.init))]
            case .integer(let minimum, let maximum):
                field["number"] = ["value": value.map(Show.json) ?? "", "min": minimum.map(String.init) as Any, "max": maximum.map(String.init) as Any]
            case .string:
                field["text"] = ["value": value?.stringValue ?? ""]
            case .stringList:
                field["lines"] = ["value": (value?.arrayValue ?? []).map(Show.json).joined(separator: "\n"), "configured": value != nil]
            case .enumerationList(let values):
                let chosen = Set((value?.arrayValue ?? []).compactMap(\.stringValue))
                field["checkboxes"] = ["boxes": values.enumerated().map { index, option in
                    ["value": option, "checked": chosen.contains(option), "boxId": Self.inputId(id) + "-\(index)"] as [String: Any]
                }]
            case .keyedMap(let keys?, let valueType):
                let current = value?.objectValue ?? [:]
                field["keyed"] = ["keys": keys.enumerated().map { index, key in
                    ["key": key.value, "label": key.label, "keyInputId": Self.inputId(id) + "-k\(index)",
                     "options": Self.valueOptions(valueType, selected: current[key.value])] as [String: Any]
                }]
            case .keyedMap(nil, _):
                let current = (value?.objectValue ?? [:]).sorted { $0.key < $1.key }
                field["pairs"] = ["rows": (current.map { ["key": $0.key, "value": Show.json($0.value)] } + [["key": "", "value": ""]]).enumerated().map { index, pair in
                    ["key": pair["key"]!, "value": pair["value"]!, "n": index + 1] as [String: Any]
                }, "rowsId": Self.inputId(id) + "-rows"] as [String: Any]
            case .objectList(let schema):
                let items = (value?.arrayValue ?? []).compactMap(\.objectValue)
                let rows = items + [[:]]
                field["objectList"] = [
                    "columns": schema.fields.map { ["name": $0.name, "required": $0.required, "hint": $0.type.expectation] as [String: Any] },
                    "rows": rows.enumerated().map { index, item in
                        ["n": index + 1, "cells": schema.fields.map { column in
                            ["name": "o.\(id).\(column.name)", "value": item[column.name].map(Show.json) ?? "",
                             "label": "\(column.name), row \(index + 1)"] as [String: Any]
                        }] as [String: Any]
                    },
                    "rowsId": Self.inputId(id) + "-rows",
                    "configured": value != nil,
                ]
            }
            field["composite"] = field["checkboxes"] != nil || field["keyed"] != nil || field["pairs"] != nil || field["objectList"] != nil
            return field
        }
    }

    static func options(_ pairs: [(String, String)], selected: String?) -> [[String: Any]] {
        [["value": "", "label": "Not configured", "selected": selected == nil]] + pairs.map { value, label in
            ["value": value, "label": label, "selected": value == selected]
        }
    }

    static func valueOptions(_ type: SettingValueType, selected: JSONValue?) -> [[String: Any]] {
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

extension SettingProblem: Error {}

import Foundation
import PalisadeCore

/// macOS and Linux settings from Microsoft's managed-preferences schema
/// (`com.microsoft.wdav.schema.json`) and the Linux keys of `reference/linux-keys.json`.
struct SchemaCatalogSource {
    let schema: JSONValue
    let linuxKeys: [LinuxKeysReference.LinuxKey]

    /// Schema keys that Defender on Linux does not read, with the reason: they are offered for
    /// macOS only, and the coverage test accepts them for Linux only because they are listed here.
    static let notReadOnLinux: [(prefix: String, reason: String)] = [
        ("userInterface.", "no user interface settings on Linux (Linux preferences reference)"),
        ("tamperProtection.", "tamper protection is not configured through the managed file on Linux (Linux preferences reference)"),
        ("cloudService.definitionUpdateDue", "not read on Linux (Linux preferences reference)"),
        ("deviceControl.", "device control is a macOS feature"),
        ("dlp.", "endpoint DLP is a macOS feature"),
        ("features.dataLossPrevention", "endpoint DLP is a macOS feature"),
        ("features.behaviorMonitoring", "Linux uses antivirusEngine.behaviorMonitoring (linux-keys.json)"),
        ("features.scheduledScan", "scheduled scans on Linux are set up with cron, not the managed file"),
        ("scheduledScan.", "scheduled scans on Linux are set up with cron, not the managed file"),
        ("antivirusEngine.enableRealTimeProtection", "Linux uses antivirusEngine.enforcementLevel (linux-keys.json)"),
        ("antivirusEngine.passiveMode", "Linux uses antivirusEngine.enforcementLevel (linux-keys.json)"),
        ("networkProtection.disable", "network protection parsers are macOS settings"),
        ("networkProtection.enableSetWarnToBlock", "a macOS setting"),
    ]

    static func linuxExclusionReason(_ id: String) -> String? {
        notReadOnLinux.first { id.hasPrefix($0.prefix) }?.reason
    }

    func definitions() throws -> [SettingDefinition] {
        var result: [SettingDefinition] = []
        var schemaIds: Set<String> = []
        for (id, property) in leafProperties(of: schema, prefix: "") {
            schemaIds.insert(id)
            var platforms: Set<PolicyPlatform> = [.macos]
            if Self.linuxExclusionReason(id) == nil { platforms.insert(.linux) }
            result.append(SettingDefinition(
                id: id, platforms: platforms, template: Self.template(for: id),
                title: property.objectValue?["title"]?.stringValue ?? id,
                description: property.objectValue?["description"]?.stringValue ?? "",
                type: try Self.type(of: property, id: id),
                defaultValue: Self.defaultValue(property)))
        }
        for linux in linuxKeys {
            if let index = result.firstIndex(where: { $0.id == linux.key }) {
                // A key the schema knows: the schema is the contract; make sure Linux has it.
                guard linux.type == nil else {
                    throw GeneratorError.unsupported("linux-keys.json: \(linux.key) is in the schema, which gives its type; drop the row's type")
                }
                result[index].platforms.insert(.linux)
            } else {
                guard let type = linux.type, let description = linux.description else {
                    throw GeneratorError.unsupported("linux-keys.json: \(linux.key) is not in the schema; give its type and description")
                }
                result.append(SettingDefinition(
                    id: linux.key, platforms: [.linux], template: Self.template(for: linux.key), title: linux.key,
                    description: description, type: try type.settingValueType()))
            }
        }
        return result
    }

    /// Every leaf property (not an object with properties), as dotted id and its schema.
    func leafProperties(of node: JSONValue, prefix: String) -> [(String, JSONValue)] {
        var leaves: [(String, JSONValue)] = []
        for (name, property) in (node.objectValue?["properties"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let id = prefix + name
            if property.objectValue?["properties"] != nil && property.objectValue?["type"]?.stringValue != "array" {
                leaves += leafProperties(of: property, prefix: id + ".")
            } else {
                leaves.append((id, property))
            }
        }
        return leaves
    }

    static func template(for id: String) -> PolicyTemplate {
        if id.hasSuffix(".exclusions") && (id.hasPrefix("antivirusEngine.") || id.hasPrefix("exclusionSettings.")) || id.hasPrefix("exclusionSettings.") || id == "antivirusEngine.exclusionsMergePolicy" {
            return .antivirusExclusions
        }
        if id.hasPrefix("edr.") { return .edr }
        if id.hasPrefix("tamperProtection.") || id.hasPrefix("userInterface.") { return .securityExperience }
        if id.hasPrefix("networkProtection.") { return .networkProtection }
        if id.hasPrefix("deviceControl.") || id.hasPrefix("dlp.") || id == "features.dataLossPrevention" { return .attackSurfaceReduction }
        return .antivirus
    }

    static func defaultValue(_ property: JSONValue) -> JSONValue? {
        guard let value = property.objectValue?["default"] else { return nil }
        // The schema writes some boolean defaults as strings ("true").
        if property.objectValue?["type"] == "boolean", let text = value.stringValue { return .bool(text == "true") }
        return value
    }

    static func type(of property: JSONValue, id: String) throws -> SettingValueType {
        let object = property.objectValue ?? [:]
        switch object["type"]?.stringValue {
        case "boolean":
            return .boolean
        case "string":
            if let values = object["enum"]?.arrayValue?.compactMap(\.stringValue) { return .enumeration(values) }
            return .string(minLength: Int(object["minLength"]?.integerValue ?? 0))
        case "number", "integer":
            return .integer(minimum: object["minimum"]?.integerValue, maximum: object["maximum"]?.integerValue)
        case "array":
            let items = object["items"]?.objectValue ?? [:]
            if items["type"] == "object" {
                var schema = try objectSchema(items, id: id)
                schema.maxItems = object["maxItems"]?.integerValue.map(Int.init)
                // {key, value} items (EDR tags, threat type settings) are keyed by `key`: one
                // value per key, merged per key across policies.
                if Set(schema.fields.map(\.name)) == ["key", "value"] {
                    schema.keyField = "key"
                    for index in schema.fields.indices { schema.fields[index].required = true }
                }
                return .objectList(schema)
            }
            if let values = items["enum"]?.arrayValue?.compactMap(\.stringValue) { return .enumerationList(values) }
            return .stringList
        default:
            throw GeneratorError.unsupported("\(id): schema type \(object["type"]?.description ?? "none")")
        }
    }

    static func objectSchema(_ items: [String: JSONValue], id: String) throws -> ObjectSchema {
        let required = Set(items["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        var fields: [ObjectSchema.Field] = []
        var discriminator: String?
        var requiredBy: [String: [String]] = [:]
        for (name, field) in (items["properties"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            var onlyWhen: Set<String>?
            if let dependencies = field.objectValue?["options"]?.objectValue?["dependencies"]?.objectValue {
                for (other, value) in dependencies {
                    discriminator = other
                    let values = value.arrayValue?.compactMap(\.stringValue) ?? value.stringValue.map { [$0] } ?? []
                    onlyWhen = Set(values)
                    for v in values { requiredBy[v, default: []].append(name) }
                }
            }
            fields.append(.init(name, try type(of: field, id: "\(id).\(name)"), required: required.contains(name), onlyWhen: onlyWhen))
        }
        // The path an exclusion needs is required; `isDirectory` is optional.
        for (value, names) in requiredBy {
            requiredBy[value] = names.filter { name in
                guard let field = fields.first(where: { $0.name == name }) else { return false }
                if case .boolean = field.type { return false }
                return true
            }.sorted()
        }
        if discriminator != nil, let index = fields.firstIndex(where: { $0.name == discriminator }) {
            fields[index].required = true
        }
        return ObjectSchema(fields: fields, discriminator: discriminator, requiredByDiscriminator: requiredBy)
    }
}

enum GeneratorError: Error, CustomStringConvertible {
    case unsupported(String)
    case missing(String)

    var description: String {
        switch self {
        case .unsupported(let what): "unsupported input: \(what)"
        case .missing(let what): "missing input: \(what)"
        }
    }
}

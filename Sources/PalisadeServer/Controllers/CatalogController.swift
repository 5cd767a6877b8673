import Foundation
import Hummingbird
import PalisadeCore

/// The settings catalog and templates, read-only: `GET /api/v1/templates`,
/// `GET /api/v1/catalog?platform=&template=`, `GET /api/v1/catalog/settings/{id}`.
struct CatalogController {
    typealias Context = AdminRequestContext
    let catalog: SettingCatalog

    func addRoutes(to routes: AdminRoutes) {
        routes.get("templates", .readCatalog, use: templates)
        routes.get("catalog", .readCatalog, use: settings)
        // Windows ids contain slashes (`Defender/AllowRealtimeMonitoring`): take the rest of the path.
        routes.get("catalog/settings/**", .readCatalog, use: setting)
    }

    struct TemplateView: Encodable {
        var id: String
        var title: String
        var platforms: [String]
        var settingCounts: [String: Int]
    }

    @Sendable func templates(_ request: Request, context: Context) async throws -> Response {
                let views = PolicyTemplate.allCases.map { template in
            let counts = Dictionary(uniqueKeysWithValues: PolicyPlatform.allCases.map { ($0.rawValue, catalog.definitions(platform: $0, template: template).count) })
            return TemplateView(id: template.rawValue, title: template.title, platforms: counts.filter { $0.value > 0 }.keys.sorted(), settingCounts: counts)
        }
        return try JSONBody.response(["templates": views])
    }

    @Sendable func settings(_ request: Request, context: Context) async throws -> Response {
                let query = request.uri.queryParameters
        let platform = try query["platform"].map { try Self.parse(PolicyPlatform.self, String($0), field: "platform") }
        let template = try query["template"].map { try Self.parse(PolicyTemplate.self, String($0), field: "template") }
        let definitions = catalog.definitions.filter { definition in
            (platform.map { definition.platforms.contains($0) } ?? true) && (template.map { definition.template == $0 } ?? true)
        }.sorted { $0.id < $1.id }
        return try JSONBody.response(["settings": definitions.map(SettingDefinitionView.init)])
    }

    @Sendable func setting(_ request: Request, context: Context) async throws -> Response {
                let id = context.parameters.getCatchAll().joined(separator: "/").removingPercentEncoding ?? ""
        let platform = try request.uri.queryParameters["platform"].map { try Self.parse(PolicyPlatform.self, String($0), field: "platform") }
        let matches = catalog.definitions.filter { $0.id == id && (platform.map($0.platforms.contains) ?? true) }
        guard !matches.isEmpty else {
            throw PalisadeError(.notFound, code: .notFound, message: "no setting \(id)\(platform.map { " for \($0.rawValue)" } ?? "") in the catalog", details: ["settingId": .string(id)])
        }
        guard matches.count == 1 else {
            let platforms = matches.flatMap(\.platforms).map(\.rawValue).sorted()
            throw PalisadeError(.badRequest, code: .ambiguousSetting, message: "\(id) is defined differently for \(platforms.joined(separator: ", ")); add ?platform=",
                                details: ["platforms": .array(platforms.map(JSONValue.string))])
        }
        return try JSONBody.response(SettingDefinitionView(matches[0]))
    }

    static func parse<E: RawRepresentable & CaseIterable>(_ type: E.Type, _ raw: String, field: String) throws -> E where E.RawValue == String {
        guard let value = E(rawValue: raw) else {
            throw PalisadeError.invalid("\(field) must be one of \(E.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(raw)\"", field: field)
        }
        return value
    }
}

/// A setting definition as the API shows it: the type flattened into `kind` and its constraints.
struct SettingDefinitionView: Encodable {
    var id: String
    var platforms: [String]
    var template: String
    var title: String
    var description: String
    var type: TypeView
    var merge: String
    var defaultValue: JSONValue?
    var registry: RegistryTarget?

    init(_ definition: SettingDefinition) {
        id = definition.id
        platforms = definition.platforms.map(\.rawValue).sorted()
        template = definition.template.rawValue
        title = definition.title
        description = definition.description
        type = TypeView(definition.type)
        merge = definition.merge.rawValue
        defaultValue = definition.defaultValue
        registry = definition.registry
    }

    struct TypeView: Encodable {
        var kind: String
        var minimum: Int64?
        var maximum: Int64?
        var minLength: Int?
        var values: [EnumOption]?
        var fields: [FieldView]?
        var keyField: String?
        var maxItems: Int?
        var keys: [EnumOption]?
        var value: Box?

        final class Box: Encodable {
            let type: TypeView
            init(_ type: TypeView) { self.type = type }
            func encode(to encoder: any Encoder) throws { try type.encode(to: encoder) }
        }

        struct FieldView: Encodable {
            var name: String
            var required: Bool
            var type: TypeView
            var onlyWhen: [String]?
        }

        init(_ type: SettingValueType) {
            switch type {
            case .boolean: kind = "boolean"
            case .integer(let min, let max): kind = "integer"; minimum = min; maximum = max
            case .enumeration(let options): kind = "enumeration"; values = options.map { EnumOption($0, $0) }
            case .integerEnumeration(let options): kind = "integerEnumeration"; values = options
            case .string(let length): kind = "string"; minLength = length
            case .stringList: kind = "stringList"
            case .enumerationList(let options): kind = "enumerationList"; values = options.map { EnumOption($0, $0) }
            case .objectList(let schema):
                kind = "objectList"
                fields = schema.fields.map { FieldView(name: $0.name, required: $0.required, type: TypeView($0.type), onlyWhen: $0.onlyWhen?.sorted()) }
                keyField = schema.keyField
                maxItems = schema.maxItems
            case .keyedMap(let allowed, let valueType):
                kind = "keyedMap"; keys = allowed; value = Box(TypeView(valueType))
            }
        }
    }
}

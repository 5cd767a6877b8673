import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PalisadeCore
import Testing

/// For every setting of every platform: random valid values validate, render and parse back to
/// the same values; random invalid values are refused with the setting id in the message.
@Suite struct CatalogPropertyTests {
    static let catalog = SettingCatalog.standard
    let validator = PolicyValidator(catalog: catalog)

    @Test(arguments: PolicyPlatform.allCases)
    func validValuesValidateRenderAndParseBack(platform: PolicyPlatform) throws {
        var rng = SeededGenerator(state: 0x5EED_0000 + UInt64(platform.rawValue.count))
        let definitions = Self.catalog.definitions(platform: platform)
        #expect(definitions.count > 30)
        for round in 0..<25 {
            var settings: [String: JSONValue] = [:]
            for definition in definitions where round == 0 || Bool.random(using: &rng) {
                let value = SampleValues.valid(definition.type, &rng)
                let problems = validator.problems(platform: platform, template: definition.template, settings: [definition.id: value])
                #expect(problems.isEmpty, "\(definition.id) = \(value): \(problems.map(\.message))")
                settings[definition.id] = value
            }
            try expectRoundTrip(settings, platform: platform)
        }
    }

    @Test(arguments: PolicyPlatform.allCases)
    func invalidValuesAreRefusedNamingTheSetting(platform: PolicyPlatform) {
        var rng = SeededGenerator(state: 0xBAD_0000 + UInt64(platform.rawValue.count))
        for definition in Self.catalog.definitions(platform: platform) {
            let value = SampleValues.invalid(definition.type, &rng)
            let problems = validator.problems(platform: platform, template: definition.template, settings: [definition.id: value])
            #expect(!problems.isEmpty, "\(definition.id) accepted \(value)")
            #expect(problems.allSatisfy { $0.settingId == definition.id && $0.message.contains(definition.id) })
        }
    }

    /// The whole catalog of a platform at once, kept for the jschon check in CI.
    @Test(arguments: [PolicyPlatform.linux, .macos])
    func fullCatalogRendersForTheSchemaCheck(platform: PolicyPlatform) throws {
        var rng = SeededGenerator(state: 0xF011)
        var settings: [String: JSONValue] = [:]
        for definition in Self.catalog.definitions(platform: platform) {
            settings[definition.id] = SampleValues.valid(definition.type, &rng)
        }
        let data: Data = try #require(platform == .linux ? try LinuxManagedJSONRenderer.render(settings) : MacOSPlistRenderer.render(settings))
        if let directory = ProcessInfo.processInfo.environment["PALISADE_ARTIFACTS_DIR"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let name = platform == .linux ? "linux-full-catalog.json" : "macos-full-catalog.plist"
            try data.write(to: URL(fileURLWithPath: directory + "/" + name))
        }
    }

    func expectRoundTrip(_ settings: [String: JSONValue], platform: PolicyPlatform) throws {
        switch platform {
        case .linux:
            let data = try #require(try LinuxManagedJSONRenderer.render(settings))
            let document = try JSONDecoder().decode(JSONValue.self, from: data)
            #expect(LinuxManagedJSONRenderer.settings(in: document, ids: settings.keys) == settings)
        case .macos:
            let data = try #require(MacOSPlistRenderer.render(settings))
            let document = try PlistReader.read(data)
            #expect(LinuxManagedJSONRenderer.settings(in: document, ids: settings.keys) == settings)
        case .windows:
            let renderer = WindowsRegistryRenderer(catalog: Self.catalog)
            let (values, problems) = renderer.values(for: settings)
            #expect(problems.isEmpty, "\(problems)")
            let parsed = renderer.settings(from: values, ids: settings.keys)
            for (id, value) in settings {
                let back = parsed[id]
                switch (value, back) {
                case (.array(let items), .array(let backItems)) where Self.catalog.definition(id, platform: .windows)?.registry?.encoding != .firewallRules:
                    #expect(Set(items) == Set(backItems), "\(id)")
                default:
                    // Registry-level identity: the parsed value renders to the same registry values.
                    #expect(back.map { renderer.values(for: [id: $0]).values } == renderer.values(for: [id: value]).values, "\(id): \(value) came back as \(back?.description ?? "nothing")")
                }
            }
        }
    }
}

/// Reads an XML property list into JSON values, independently of the renderer.
enum PlistReader {
    struct Unreadable: Error { var reason: String }

    static func read(_ data: Data) throws -> JSONValue {
        let document = try XMLDocument(data: data)
        guard let root = document.rootElement(), let top = root.children?.compactMap({ $0 as? XMLElement }).first else { throw Unreadable(reason: "no top element") }
        return try value(top)
    }

    static func value(_ element: XMLElement) throws -> JSONValue {
        let children = element.children?.compactMap { $0 as? XMLElement } ?? []
        switch element.name {
        case "true": return true
        case "false": return false
        case "integer": return .integer(Int64(element.stringValue ?? "") ?? 0)
        case "real": return .number(Double(element.stringValue ?? "") ?? 0)
        case "string": return .string(element.stringValue ?? "")
        case "array": return .array(try children.map(value))
        case "dict":
            var object: [String: JSONValue] = [:]
            var index = 0
            while index + 1 < children.count {
                object[children[index].stringValue ?? ""] = try value(children[index + 1])
                index += 2
            }
            return .object(object)
        default: throw Unreadable(reason: "unknown element \(element.name ?? "?")")
        }
    }
}

/// Every Windows setting rendered to registry values, kept for the ADMX check in CI
/// (tests/contracts/test_windows_registry_against_admx.py reads the ADMX independently).
@Suite struct WindowsRegistryGoldenTests {
    @Test func everyWindowsSettingRendersToRegistryValues() throws {
        let catalog = SettingCatalog.standard
        let renderer = WindowsRegistryRenderer(catalog: catalog)
        var rng = SeededGenerator(state: 0x60_1DE4)
        var rows: [JSONValue] = []
        for definition in catalog.definitions(platform: .windows) {
            var samples = [SampleValues.valid(definition.type, &rng), SampleValues.valid(definition.type, &rng)]
            if case .boolean = definition.type { samples = [true, false] }
            for sample in samples {
                let (values, problems) = renderer.values(for: [definition.id: sample])
                #expect(problems.isEmpty, "\(definition.id): \(problems)")
                #expect(!values.isEmpty, "\(definition.id) renders nothing")
                rows.append([
                    "settingId": .string(definition.id),
                    "value": sample,
                    "registry": .array(values.map { value in
                        let data: JSONValue = switch value.data {
                        case .dword(let number): .integer(Int64(number))
                        case .string(let string): .string(string)
                        }
                        return ["key": .string(value.location.key), "name": .string(value.location.name), "type": .string(value.data.typeName), "data": data]
                    }),
                ])
            }
        }
        #expect(rows.count >= 2 * 160)
        if let directory = ProcessInfo.processInfo.environment["PALISADE_ARTIFACTS_DIR"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try CanonicalJSON.data(JSONValue.array(rows), pretty: true).write(to: URL(fileURLWithPath: directory + "/windows-registry-golden.json"))
        }
    }
}

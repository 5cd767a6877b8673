import Foundation
import PalisadeCatalogGenerator
import PalisadeCore
import Testing

/// The repository's `contracts/`: vendor files in `vendor/`, reference tables in `reference/`.
enum Contracts {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = packageRoot.appendingPathComponent("contracts")

    static func text(_ path: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(path), encoding: .utf8)
    }

    /// A reference table read as plain JSON, independently of the generator's types.
    static func reference(_ name: String) throws -> [String: JSONValue] {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(try text("reference/" + name).utf8))
        return try #require(value.objectValue)
    }
}

@Suite struct GeneratedCatalogTests {
    @Test func committedCatalogIsWhatTheGeneratorProduces() throws {
        let generated = try CatalogGenerator.swiftSource(contractsDirectory: Contracts.directory)
        let committed = try String(contentsOf: Contracts.packageRoot.appendingPathComponent("Sources/PalisadeCore/Catalog/GeneratedCatalog.swift"), encoding: .utf8)
        #expect(generated == committed, "GeneratedCatalog.swift is stale: run `swift run generate-catalog`")
    }

    @Test func everySchemaPropertyIsInTheCatalogOrExcludedWithAReason() throws {
        let schema = try JSONDecoder().decode(JSONValue.self, from: Data(try Contracts.text("vendor/com.microsoft.wdav.schema.json").utf8))
        func leaves(_ node: JSONValue, _ prefix: String) -> [String] {
            (node.objectValue?["properties"]?.objectValue ?? [:]).flatMap { name, property -> [String] in
                let isObject = property.objectValue?["properties"] != nil && property.objectValue?["type"] != "array"
                return isObject ? leaves(property, prefix + name + ".") : [prefix + name]
            }
        }
        let properties = leaves(schema, "")
        #expect(properties.count > 50)
        let catalog = SettingCatalog.standard
        for id in properties {
            #expect(catalog.definition(id, platform: .macos) != nil, "schema property \(id) missing for macOS")
            let linux = catalog.definition(id, platform: .linux)
            let reason = CatalogGenerator.linuxExclusions.first { id.hasPrefix($0.prefix) }?.reason
            #expect((linux != nil) != (reason != nil), "\(id) must be offered for Linux or be excluded with a reason, not both or neither")
        }
        for exclusion in CatalogGenerator.linuxExclusions {
            #expect(!exclusion.reason.isEmpty)
            #expect(properties.contains { $0.hasPrefix(exclusion.prefix) }, "exclusion \(exclusion.prefix) matches no schema property")
        }
    }

    @Test func everyLinuxKeyOfTheReferenceIsOffered() throws {
        let catalog = SettingCatalog.standard
        let keys = try #require(try Contracts.reference("linux-keys.json")["keys"]?.arrayValue).compactMap { $0.objectValue?["key"]?.stringValue }
        #expect(keys.count >= 20)
        for key in keys {
            #expect(catalog.definition(key, platform: .linux) != nil, "linux-keys.json key \(key) missing for Linux")
        }
    }

    @Test func everyRegistryValuedADMXPolicyIsInTheCatalog() throws {
        let admx = try Contracts.text("vendor/WindowsDefender.admx")
        // An independent, plain-text reading of the ADMX: every <policy ... key="..." [valueName="..."]>.
        let policies = admx.components(separatedBy: "<policy ").dropFirst().map { chunk -> (name: String, key: String) in
            let head = chunk.prefix { $0 != ">" }
            func attribute(_ name: String) -> String {
                guard let range = head.range(of: " \(name)=\"") ?? head.range(of: "\(name)=\"") else { return "" }
                return String(head[range.upperBound...].prefix { $0 != "\"" })
            }
            return (attribute("name"), attribute("key"))
        }
        #expect(policies.count == 127)
        let windows = SettingCatalog.standard.definitions(platform: .windows)
        let registryKeys = Set(windows.compactMap { $0.registry?.key.lowercased() } + windows.compactMap { $0.registry?.enabler?.key.lowercased() })
        for policy in policies {
            let full = ("HKLM\\" + policy.key.replacingOccurrences(of: "Software\\", with: "SOFTWARE\\")).lowercased()
            #expect(registryKeys.contains(full), "ADMX policy \(policy.name) (\(policy.key)) has no setting")
            let named = windows.contains { $0.id.hasSuffix("/\(policy.name)") }
                || windows.contains { $0.registry?.key.lowercased() == full || $0.registry?.enabler?.key.lowercased() == full }
            #expect(named)
        }
        #expect(windows.filter { $0.id.hasPrefix("ADMX_MicrosoftDefenderAntivirus/") || $0.id.hasPrefix("Defender/") }.count == policies.count)
    }

    @Test func everyCSPNameAndFirewallSettingOfWindowsReferenceIsOffered() throws {
        let catalog = SettingCatalog.standard
        let reference = try Contracts.reference("windows-settings.json")
        func rows(_ section: String, _ field: String) -> [[String: JSONValue]] {
            reference[section]?.objectValue?[field]?.arrayValue?.compactMap(\.objectValue) ?? []
        }
        let names = rows("defenderCSP", "settings").compactMap { $0["name"]?.stringValue }
        #expect(names.count >= 30)
        for name in names {
            #expect(catalog.definition("Defender/\(name)", platform: .windows) != nil, "CSP Defender/\(name) missing")
        }
        let profiles = rows("firewall", "profiles").compactMap { $0["csp"]?.stringValue }
        let settings = rows("firewall", "profileSettings").compactMap { $0["name"]?.stringValue }
        #expect(profiles == ["DomainProfile", "PrivateProfile", "PublicProfile"])
        #expect(settings.count >= 10)
        for profile in profiles {
            for setting in settings {
                #expect(catalog.definition("Firewall/MdmStore/\(profile)/\(setting)", platform: .windows) != nil, "\(profile)/\(setting) missing")
            }
        }
        #expect(catalog.definition("Firewall/MdmStore/FirewallRules", platform: .windows)?.merge == .keyedUnion)
        #expect(catalog.definition("Defender/AttackSurfaceReductionRules", platform: .windows)?.merge == .keyedUnion)
        #expect(catalog.definition("Defender/ExcludedPaths", platform: .windows)?.merge == .union)
        let atp = reference["advancedThreatProtection"]?.arrayValue?.compactMap(\.objectValue) ?? []
        #expect(atp.count >= 3)
        for row in atp {
            let definition = catalog.definition(row["id"]?.stringValue ?? "", platform: .windows)
            #expect(definition?.template == .edr, "ATP setting \(row["id"] ?? .null) missing")
            #expect(definition?.registry?.key == row["registryKey"]?.stringValue && definition?.registry?.valueName == row["valueName"]?.stringValue)
        }
    }

    @Test func allowSettingsAreInvertedOntoDisableValues() throws {
        let renderer = WindowsRegistryRenderer()
        let (values, problems) = renderer.values(for: ["Defender/AllowRealtimeMonitoring": true, "Defender/AllowArchiveScanning": false])
        #expect(problems.isEmpty)
        #expect(values.contains(RegistryValue(key: "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Real-Time Protection", name: "DisableRealtimeMonitoring", data: .dword(0))))
        #expect(values.contains(RegistryValue(key: "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Scan", name: "DisableArchiveScanning", data: .dword(1))))
    }
}

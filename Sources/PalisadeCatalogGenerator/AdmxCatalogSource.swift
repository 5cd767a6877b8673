import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PalisadeCore

/// Windows settings: every registry-valued policy of `WindowsDefender.admx` (titles and
/// descriptions from the `.adml`), named by Policy CSP name where `WINDOWS.md` gives one, plus
/// the Windows Firewall settings and rules and the Advanced Threat Protection values that
/// `WINDOWS.md` lists.
struct AdmxCatalogSource {
    let admx: Data
    let adml: Data
    let windowsMarkdown: String

    static let hklm = "HKLM\\"
    static let defenderKey = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender"
    static let firewallKey = "HKLM\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall"
    static let atpKey = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Advanced Threat Protection"

    /// One ADMX policy, read from the XML.
    struct AdmxPolicy {
        var name: String
        var displayName: String
        var explain: String
        var category: String
        var key: String
        var valueName: String?
        var enabledValue: UInt32?
        var disabledValue: UInt32?
        var elements: [Element]

        struct Element {
            var kind: String
            var id: String
            var valueName: String?
            var key: String?
            var minimum: Int64?
            var maximum: Int64?
            var items: [EnumOption]
        }
    }

    /// A CSP name from WINDOWS.md and the registry value it lands on.
    struct CSPMapping {
        var name: String
        var relativePath: String
        var inverted: Bool
        var values: String
    }

    func definitions() throws -> [SettingDefinition] {
        let strings = try Self.strings(adml)
        let policies = try Self.policies(admx, strings: strings)
        let mappings = cspMappings()
        var result: [SettingDefinition] = []
        for policy in policies {
            result.append(try definition(for: policy, mappings: mappings))
        }
        result += firewallDefinitions()
        result += atpDefinitions()
        return result
    }

    // MARK: ADMX

    static func strings(_ data: Data) throws -> [String: String] {
        let document = try XMLDocument(data: data)
        var table: [String: String] = [:]
        for node in try document.nodes(forXPath: "//*[local-name()='string']") {
            guard let element = node as? XMLElement, let id = attribute("id", element) else { continue }
            table[id] = element.stringValue ?? ""
        }
        return table
    }

    /// `attribute(forName:)` misses attributes in a default namespace on Linux; look them up by name.
    static func attribute(_ name: String, _ element: XMLElement) -> String? {
        element.attributes?.first { $0.name == name }?.stringValue
    }

    static func resolve(_ reference: String?, _ strings: [String: String]) -> String {
        guard let reference else { return "" }
        if reference.hasPrefix("$(string."), reference.hasSuffix(")") {
            let id = String(reference.dropFirst("$(string.".count).dropLast())
            return strings[id] ?? id
        }
        return reference
    }

    static func policies(_ data: Data, strings: [String: String]) throws -> [AdmxPolicy] {
        let document = try XMLDocument(data: data)
        var result: [AdmxPolicy] = []
        for node in try document.nodes(forXPath: "//*[local-name()='policy']") {
            guard let element = node as? XMLElement else { continue }
            func children(_ element: XMLElement, _ name: String) -> [XMLElement] {
                (element.children ?? []).compactMap { $0 as? XMLElement }.filter { $0.localName == name }
            }
            func decimal(_ element: XMLElement?) -> UInt32? {
                guard let element, let decimal = children(element, "decimal").first, let value = attribute("value", decimal) else { return nil }
                return UInt32(value)
            }
            var elements: [AdmxPolicy.Element] = []
            for container in children(element, "elements") {
                for item in (container.children ?? []).compactMap({ $0 as? XMLElement }) {
                    let options: [EnumOption] = children(item, "item").compactMap { option in
                        guard let value = decimal(children(option, "value").first) else { return nil }
                        return EnumOption(String(value), resolve(attribute("displayName", option), strings))
                    }
                    elements.append(.init(
                        kind: item.localName ?? "", id: attribute("id", item) ?? "", valueName: attribute("valueName", item),
                        key: attribute("key", item), minimum: attribute("minValue", item).flatMap { Int64($0) },
                        maximum: attribute("maxValue", item).flatMap { Int64($0) }, items: options))
                }
            }
            result.append(AdmxPolicy(
                name: attribute("name", element) ?? "",
                displayName: resolve(attribute("displayName", element), strings),
                explain: resolve(attribute("explainText", element), strings),
                category: children(element, "parentCategory").first.flatMap { attribute("ref", $0) } ?? "",
                key: attribute("key", element) ?? "",
                valueName: attribute("valueName", element),
                enabledValue: decimal(children(element, "enabledValue").first),
                disabledValue: decimal(children(element, "disabledValue").first),
                elements: elements))
        }
        return result.sorted { $0.name < $1.name }
    }

    static func fullKey(_ key: String) -> String {
        // ADMX keys are relative to the hive; Palisade names them from HKLM.
        let parts = key.split(separator: "\\", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "software" else { return hklm + key }
        return hklm + "SOFTWARE\\" + parts[1]
    }

    static func template(forCategory category: String) -> PolicyTemplate {
        switch category {
        case "Exclusions": .antivirusExclusions
        case "ExploitGuard_ASR", "ExploitGuard_ControlledFolderAccess", "DeviceControl": .attackSurfaceReduction
        case "ExploitGuard_NetworkProtection", "NetworkRealtimeInspection", "NetworkRealtimeInspection_Exclusions": .networkProtection
        case "ClientInterface", "Reporting": .securityExperience
        default: .antivirus
        }
    }

    // MARK: WINDOWS.md

    /// Rows of the CSP table: `| Name[ / Name...] | values | \`Path\ValueName\` [, \`\Other\`] (inverted) |`.
    func cspMappings() -> [CSPMapping] {
        var result: [CSPMapping] = []
        var inCSPTable = false
        for line in windowsMarkdown.split(separator: "\n") {
            if line.hasPrefix("| CSP name") { inCSPTable = true; continue }
            if inCSPTable && !line.hasPrefix("|") { inCSPTable = false }
            guard inCSPTable, !line.hasPrefix("|---") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let names = cells[1].split(separator: "/").map { $0.trimmingCharacters(in: .whitespaces) }.map { $0.replacingOccurrences(of: " (Defender CSP)", with: "") }
            let paths = SchemaCatalogSource.backticked(cells[3])
            guard let first = paths.first else { continue }
            let parent = first.split(separator: "\\").dropLast().joined(separator: "\\")
            for (index, name) in names.enumerated() where index < paths.count {
                var path = paths[index]
                if path.hasPrefix("\\") { path = parent + path }
                result.append(CSPMapping(name: name, relativePath: path, inverted: cells[3].contains("(inverted)"), values: cells[2]))
            }
        }
        return result
    }

    /// The ASR rule GUIDs and their names.
    func asrRules() -> [EnumOption] {
        windowsMarkdown.split(separator: "\n").compactMap { line -> EnumOption? in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 2, cells[1].count == 36, cells[1].filter({ $0 == "-" }).count == 4 else { return nil }
            return EnumOption(cells[1], cells[0])
        }
    }

    /// "(1 low, 2 moderate, ...)" groups of the ThreatSeverityDefaultAction row.
    func threatActionOptions() -> (severities: [EnumOption], actions: [EnumOption]) {
        guard let row = windowsMarkdown.split(separator: "\n").first(where: { $0.hasPrefix("| ThreatSeverityDefaultAction") }) else { return ([], []) }
        let groups = row.split(separator: "(").dropFirst().map { $0.split(separator: ")").first.map(String.init) ?? "" }
        func options(_ text: String) -> [EnumOption] {
            text.split(separator: ",").compactMap { part in
                let words = part.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
                guard words.count == 2, Int(words[0]) != nil else { return nil }
                return EnumOption(String(words[0]), String(words[1]))
            }
        }
        return (groups.count > 0 ? options(groups[0]) : [], groups.count > 1 ? options(groups[1]) : [])
    }

    // MARK: Policy -> setting

    func definition(for policy: AdmxPolicy, mappings: [CSPMapping]) throws -> SettingDefinition {
        let key = Self.fullKey(policy.key)
        let relativeKey = key.hasPrefix(Self.defenderKey) ? String(key.dropFirst(Self.defenderKey.count)).trimmingCharacters(in: CharacterSet(charactersIn: "\\")) : key
        // The value the setting is about: the policy's own, or its single element's.
        let element = policy.elements.first
        let dataKey = element?.key.map(Self.fullKey) ?? key
        let dataValueName = element?.valueName ?? policy.valueName
        let relativeDataKey = dataKey.hasPrefix(Self.defenderKey) ? String(dataKey.dropFirst(Self.defenderKey.count)).trimmingCharacters(in: CharacterSet(charactersIn: "\\")) : dataKey
        let mapping = mappings.first { mapping in
            let candidates = [
                [relativeKey, dataValueName ?? ""].filter { !$0.isEmpty }.joined(separator: "\\"),
                [relativeKey, policy.valueName ?? ""].filter { !$0.isEmpty }.joined(separator: "\\"),
                relativeDataKey,
            ]
            return candidates.contains { $0.lowercased() == mapping.relativePath.lowercased() }
        }
        let id = mapping.map { "Defender/\($0.name)" } ?? "ADMX_MicrosoftDefenderAntivirus/\(policy.name)"
        let template = Self.template(forCategory: policy.category)
        let description = policy.explain.trimmingCharacters(in: .whitespacesAndNewlines)
        // An element with its own value name: the policy's value name is the "enabled" flag.
        let enabler: RegistryValueLocation? = {
            guard let element, let policyValue = policy.valueName else { return nil }
            if element.key == nil && element.valueName == policyValue { return nil }
            return RegistryValueLocation(key: key, name: policyValue)
        }()

        guard let element else {
            guard let valueName = policy.valueName else { throw GeneratorError.unsupported("policy \(policy.name) sets no value") }
            let whenEnabled = policy.enabledValue ?? 1
            let whenDisabled = policy.disabledValue ?? 0
            // A CSP name speaks of the registry value itself: `Allow*` = 1 lands as `Disable*` = 0
            // (inverted rows), other 0/1 CSP settings land as they are. Without a CSP name, true
            // means "policy enabled" in the ADMX's own terms.
            let encoding: RegistryEncoding
            if let mapping {
                guard Set([whenEnabled, whenDisabled]) == [0, 1] else {
                    throw GeneratorError.unsupported("\(mapping.name): ADMX values \(whenEnabled)/\(whenDisabled) are not 0/1")
                }
                encoding = mapping.inverted ? .boolean(whenTrue: 0, whenFalse: 1) : .boolean(whenTrue: 1, whenFalse: 0)
            } else {
                encoding = .boolean(whenTrue: whenEnabled, whenFalse: whenDisabled)
            }
            return SettingDefinition(
                id: id, platforms: [.windows], template: template, title: policy.displayName, description: description,
                type: .boolean, registry: RegistryTarget(key: key, valueName: valueName, encoding: encoding))
        }
        let type: SettingValueType
        let encoding: RegistryEncoding
        switch element.kind {
        case "decimal":
            type = .integer(minimum: element.minimum ?? 0, maximum: element.maximum ?? Int64(UInt32.max))
            encoding = .dword
        case "enum":
            type = .integerEnumeration(element.items)
            encoding = .dword
        case "text":
            type = .string(minLength: 0)
            encoding = .string
        case "boolean":
            type = .boolean
            encoding = .boolean(whenTrue: 1, whenFalse: 0)
        case "list":
            (type, encoding) = listType(policy: policy)
        default:
            throw GeneratorError.unsupported("policy \(policy.name): element \(element.kind)")
        }
        return SettingDefinition(
            id: id, platforms: [.windows], template: template, title: policy.displayName, description: description, type: type,
            registry: RegistryTarget(key: dataKey, valueName: element.kind == "list" ? nil : dataValueName, encoding: encoding, enabler: enabler))
    }

    /// Lists that map a key to a value (ASR rule -> mode, threat -> action) are keyed maps; the
    /// other lists are sets of strings, each a value whose data is "0".
    func listType(policy: AdmxPolicy) -> (SettingValueType, RegistryEncoding) {
        let (severities, actions) = threatActionOptions()
        let actionType = SettingValueType.integerEnumeration(actions)
        switch policy.name {
        case "ExploitGuard_ASR_Rules":
            let modes = [EnumOption("0", "off"), EnumOption("1", "block"), EnumOption("2", "audit"), EnumOption("6", "warn")]
            return (.keyedMap(keys: asrRules(), value: .integerEnumeration(modes)), .valuePerKey)
        case "Threats_ThreatSeverityDefaultAction":
            return (.keyedMap(keys: severities, value: actionType), .valuePerKey)
        case "Threats_ThreatIdDefaultAction":
            return (.keyedMap(keys: nil, value: actionType), .valuePerKey)
        default:
            return (.stringList, .valuePerItem(data: "0"))
        }
    }

    // MARK: Firewall and ATP (WINDOWS.md)

    func firewallDefinitions() -> [SettingDefinition] {
        let profiles = [("DomainProfile", "DomainProfile"), ("PrivateProfile", "StandardProfile"), ("PublicProfile", "PublicProfile")]
        var rows: [(name: String, type: String, value: String)] = []
        var inTable = false
        for line in windowsMarkdown.split(separator: "\n") {
            if line.hasPrefix("| setting (per profile)") { inTable = true; continue }
            if inTable && !line.hasPrefix("|") { inTable = false }
            guard inTable, !line.hasPrefix("|---") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let names = cells[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let types = cells[2].split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            let values = SchemaCatalogSource.backticked(cells[3])
            for (index, name) in names.enumerated() where index < values.count {
                rows.append((name, index < types.count ? types[index] : types.last ?? "", values[index]))
            }
        }
        var result: [SettingDefinition] = []
        for (cspProfile, registryProfile) in profiles {
            for row in rows {
                let parts = row.value.split(separator: "\\")
                let key = Self.firewallKey + "\\" + registryProfile + (parts.count > 1 ? "\\" + parts.dropLast().joined(separator: "\\") : "")
                let valueName = String(parts.last ?? "")
                let type: SettingValueType
                let encoding: RegistryEncoding
                if row.type.hasPrefix("bool") {
                    (type, encoding) = (.boolean, .boolean(whenTrue: 1, whenFalse: 0))
                } else if row.type.hasPrefix("0 allow, 1 block") {
                    (type, encoding) = (.integerEnumeration([EnumOption("0", "allow"), EnumOption("1", "block")]), .dword)
                } else if row.type.hasPrefix("integer") {
                    (type, encoding) = (.integer(minimum: 1, maximum: 32767), .dword)
                } else {
                    (type, encoding) = (.string(minLength: 1), .string)
                }
                result.append(SettingDefinition(
                    id: "Firewall/MdmStore/\(cspProfile)/\(row.name)", platforms: [.windows], template: .firewall,
                    title: "\(row.name) (\(cspProfile))", description: "Windows Firewall \(cspProfile): \(row.name) (\(row.type)).",
                    type: type, registry: RegistryTarget(key: key, valueName: valueName, encoding: encoding)))
            }
        }
        result.append(SettingDefinition(
            id: "Firewall/MdmStore/FirewallRules", platforms: [.windows], template: .firewallRules,
            title: "Firewall rules", description: "Windows Firewall rules, keyed by name: mergeable across policies; one name with two definitions is a conflict.",
            type: .objectList(FirewallRuleFormat.schema),
            registry: RegistryTarget(key: Self.firewallKey + "\\FirewallRules", valueName: nil, encoding: .firewallRules)))
        return result
    }

    func atpDefinitions() -> [SettingDefinition] {
        [
            SettingDefinition(id: "ATP/ForceDefenderPassiveMode", platforms: [.windows], template: .edr, title: "Force passive mode",
                              description: "Run Microsoft Defender Antivirus in passive mode (1 = passive).", type: .boolean,
                              registry: RegistryTarget(key: Self.atpKey, valueName: "ForceDefenderPassiveMode", encoding: .boolean(whenTrue: 1, whenFalse: 0))),
            SettingDefinition(id: "ATP/AllowSampleCollection", platforms: [.windows], template: .edr, title: "EDR sample sharing",
                              description: "Allow sample collection for EDR (default on).", type: .boolean, defaultValue: true,
                              registry: RegistryTarget(key: Self.atpKey, valueName: "AllowSampleCollection", encoding: .boolean(whenTrue: 1, whenFalse: 0))),
            SettingDefinition(id: "ATP/DeviceTagging/Group", platforms: [.windows], template: .edr, title: "Device tag",
                              description: "Device tag shown in the Defender portal.", type: .string(minLength: 1),
                              registry: RegistryTarget(key: Self.atpKey + "\\DeviceTagging", valueName: "Group", encoding: .string)),
        ]
    }
}

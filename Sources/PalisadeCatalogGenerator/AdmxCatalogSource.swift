import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import PalisadeCore

/// Windows settings: every registry-valued policy of `WindowsDefender.admx` (titles and
/// descriptions from the `.adml`), named by Policy CSP name where `reference/windows-settings.json`
/// gives one, plus the Windows Firewall settings and rules and the Advanced Threat Protection
/// values that it lists.
struct AdmxCatalogSource {
    let admx: Data
    let adml: Data
    let reference: WindowsReference

    static let hklm = "HKLM\\"

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

    func definitions() throws -> [SettingDefinition] {
        let strings = try Self.strings(adml)
        let policies = try Self.policies(admx, strings: strings)
        var result: [SettingDefinition] = []
        for policy in policies {
            result.append(try definition(for: policy))
        }
        result += try firewallDefinitions()
        result += try atpDefinitions()
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

    // MARK: Policy -> setting

    func definition(for policy: AdmxPolicy) throws -> SettingDefinition {
        let defenderKey = reference.defenderCSP.registryRoot
        let key = Self.fullKey(policy.key)
        let relativeKey = key.hasPrefix(defenderKey) ? String(key.dropFirst(defenderKey.count)).trimmingCharacters(in: CharacterSet(charactersIn: "\\")) : key
        // The value the setting is about: the policy's own, or its single element's.
        let element = policy.elements.first
        let dataKey = element?.key.map(Self.fullKey) ?? key
        let dataValueName = element?.valueName ?? policy.valueName
        let relativeDataKey = dataKey.hasPrefix(defenderKey) ? String(dataKey.dropFirst(defenderKey.count)).trimmingCharacters(in: CharacterSet(charactersIn: "\\")) : dataKey
        let mapping = reference.defenderCSP.settings.first { mapping in
            let candidates = [
                [relativeKey, dataValueName ?? ""].filter { !$0.isEmpty }.joined(separator: "\\"),
                [relativeKey, policy.valueName ?? ""].filter { !$0.isEmpty }.joined(separator: "\\"),
                relativeDataKey,
            ]
            return candidates.contains { $0.lowercased() == mapping.registryPath.lowercased() }
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
        let threats = reference.threatDefaultActions
        let actionType = SettingValueType.integerEnumeration(threats.actions.map(\.enumOption))
        switch policy.name {
        case "ExploitGuard_ASR_Rules":
            let asr = reference.attackSurfaceReduction
            let rules = asr.rules.map { EnumOption($0.guid, $0.name) }
            return (.keyedMap(keys: rules, value: .integerEnumeration(asr.modes.map(\.enumOption))), .valuePerKey)
        case "Threats_ThreatSeverityDefaultAction":
            return (.keyedMap(keys: threats.severities.map(\.enumOption), value: actionType), .valuePerKey)
        case "Threats_ThreatIdDefaultAction":
            return (.keyedMap(keys: nil, value: actionType), .valuePerKey)
        default:
            return (.stringList, .valuePerItem(data: "0"))
        }
    }

    // MARK: Firewall and ATP

    func firewallDefinitions() throws -> [SettingDefinition] {
        let firewall = reference.firewall
        var result: [SettingDefinition] = []
        for profile in firewall.profiles {
            for setting in firewall.profileSettings {
                let key = [firewall.registryKey, profile.registry, setting.registrySubkey].compactMap { $0 }.joined(separator: "\\")
                result.append(SettingDefinition(
                    id: "Firewall/MdmStore/\(profile.csp)/\(setting.name)", platforms: [.windows], template: .firewall,
                    title: "\(setting.name) (\(profile.csp))", description: "Windows Firewall \(profile.csp): \(setting.name) (\(setting.valuesText)).",
                    type: try setting.type.settingValueType(),
                    registry: RegistryTarget(key: key, valueName: setting.valueName, encoding: try setting.type.registryEncoding())))
            }
        }
        result.append(SettingDefinition(
            id: "Firewall/MdmStore/FirewallRules", platforms: [.windows], template: .firewallRules,
            title: "Firewall rules", description: "Windows Firewall rules, keyed by name: mergeable across policies; one name with two definitions is a conflict.",
            type: .objectList(FirewallRuleFormat.schema),
            registry: RegistryTarget(key: firewall.registryKey + "\\" + firewall.rulesSubkey, valueName: nil, encoding: .firewallRules)))
        return result
    }

    func atpDefinitions() throws -> [SettingDefinition] {
        try reference.advancedThreatProtection.map { setting in
            SettingDefinition(
                id: setting.id, platforms: [.windows], template: .edr, title: setting.title, description: setting.description,
                type: try setting.type.settingValueType(), defaultValue: setting.default,
                registry: RegistryTarget(key: setting.registryKey, valueName: setting.valueName, encoding: try setting.type.registryEncoding()))
        }
    }
}

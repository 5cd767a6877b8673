import PalisadeCore

// The reference tables of `contracts/reference/` (see its README.md). Every row decodes its
// `source`, although the catalog does not use it, so that a row without one fails generation.

/// `linux-keys.json`: managed-file keys of Defender on Linux.
struct LinuxKeysReference: Decodable {
    var keys: [LinuxKey]

    /// A key the vendor schema defines (no `type`: Linux reads it as the schema says), or a
    /// Linux-only key with its own `type` and catalog `description`.
    struct LinuxKey: Decodable {
        var key: String
        var type: ReferenceValueType?
        var description: String?
        var source: String
    }
}

/// `windows-settings.json`: what the ADMX does not say about Windows settings.
struct WindowsReference: Decodable {
    var defenderCSP: DefenderCSP
    var attackSurfaceReduction: AttackSurfaceReduction
    var threatDefaultActions: ThreatDefaultActions
    var firewall: Firewall
    var advancedThreatProtection: [RegistrySetting]

    struct DefenderCSP: Decodable {
        /// The key the registry paths are relative to.
        var registryRoot: String
        var settings: [CSPSetting]
    }

    /// A Policy CSP name and the ADMX registry value it lands on.
    struct CSPSetting: Decodable {
        var name: String
        /// `Key\ValueName` below `registryRoot`; for lists and maps, the key holding their values.
        var registryPath: String
        /// The CSP's `Allow*` = 1 is the registry's `Disable*` = 0.
        var inverted: Bool
        var source: String
    }

    struct AttackSurfaceReduction: Decodable {
        var modes: [ReferenceOption]
        var rules: [Rule]

        struct Rule: Decodable {
            var guid: String
            var name: String
            var source: String
        }
    }

    struct ThreatDefaultActions: Decodable {
        var severities: [ReferenceOption]
        var actions: [ReferenceOption]
    }

    struct Firewall: Decodable {
        var registryKey: String
        var profiles: [Profile]
        var profileSettings: [ProfileSetting]
        /// Below `registryKey`: one value per firewall rule.
        var rulesSubkey: String

        struct Profile: Decodable {
            var csp: String
            var registry: String
            var source: String
        }

        /// A setting of each profile: `registryKey\<profile>[\registrySubkey]`, value `valueName`.
        struct ProfileSetting: Decodable {
            var name: String
            /// The values as the reference words them; the catalog's description quotes it.
            var valuesText: String
            var type: ReferenceValueType
            var registrySubkey: String?
            var valueName: String
            var source: String
        }
    }

    /// A setting that is one registry value, with its catalog id and text.
    struct RegistrySetting: Decodable {
        var id: String
        var title: String
        var description: String
        var type: ReferenceValueType
        var `default`: JSONValue?
        var registryKey: String
        var valueName: String
        var source: String
    }
}

/// One allowed value and its label (an `EnumOption` with its source).
struct ReferenceOption: Decodable {
    var value: String
    var label: String
    var source: String

    var enumOption: EnumOption { EnumOption(value, label) }
}

/// A value type as the reference tables spell it: `{"kind": "enumeration", "values": [...]}`.
struct ReferenceValueType: Decodable {
    enum Kind: String, Decodable {
        case boolean, integer, enumeration, integerEnumeration, string, stringList
    }

    var kind: Kind
    var values: [String]?
    /// Within a row, which carries the source.
    var options: [EnumOption]?
    var minimum: Int64?
    var maximum: Int64?
    var minLength: Int?

    func settingValueType() throws -> SettingValueType {
        switch kind {
        case .boolean: return .boolean
        case .integer: return .integer(minimum: minimum, maximum: maximum)
        case .enumeration:
            guard let values else { throw GeneratorError.unsupported("an enumeration type without values") }
            return .enumeration(values)
        case .integerEnumeration:
            guard let options else { throw GeneratorError.unsupported("an integerEnumeration type without options") }
            return .integerEnumeration(options)
        case .string: return .string(minLength: minLength ?? 0)
        case .stringList: return .stringList
        }
    }

    /// How a Windows value of this type is written: booleans and integers as REG_DWORD, strings as REG_SZ.
    func registryEncoding() throws -> RegistryEncoding {
        switch kind {
        case .boolean: return .boolean(whenTrue: 1, whenFalse: 0)
        case .integer, .integerEnumeration: return .dword
        case .string: return .string
        case .enumeration, .stringList: throw GeneratorError.unsupported("a \(kind.rawValue) type for a registry value")
        }
    }
}

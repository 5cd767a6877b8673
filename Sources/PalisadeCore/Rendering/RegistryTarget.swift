/// Where a Windows setting lands in the registry, as the ADMX (or the reference table
/// `windows-settings.json`) defines it.
public struct RegistryTarget: Sendable, Hashable, Codable {
    /// Full key, e.g. `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender\Real-Time Protection`.
    public var key: String
    /// The value written; for per-item encodings the items are values under `key`.
    public var valueName: String?
    public var encoding: RegistryEncoding
    /// A value set to 1 (REG_DWORD) while the setting is managed, e.g. the policy's own
    /// `Exclusions_Paths` flag that turns the list on.
    public var enabler: RegistryValueLocation?

    public init(key: String, valueName: String?, encoding: RegistryEncoding, enabler: RegistryValueLocation? = nil) {
        self.key = key
        self.valueName = valueName
        self.encoding = encoding
        self.enabler = enabler
    }
}

public struct RegistryValueLocation: Sendable, Hashable, Codable, Comparable {
    public var key: String
    public var name: String

    public init(key: String, name: String) {
        self.key = key
        self.name = name
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.key.lowercased(), lhs.name.lowercased()) < (rhs.key.lowercased(), rhs.name.lowercased())
    }
}

/// How a setting value becomes registry data.
public enum RegistryEncoding: Sendable, Hashable, Codable {
    /// REG_DWORD: `whenTrue` / `whenFalse` (CSP `Allow*` settings map onto inverted `Disable*`).
    case boolean(whenTrue: UInt32, whenFalse: UInt32)
    /// REG_DWORD holding the integer (or integer enumeration) as is.
    case dword
    /// REG_SZ holding the string.
    case string
    /// One REG_SZ value per list item under `key`: value name = item, data = `data`.
    case valuePerItem(data: String)
    /// One REG_SZ value per map entry under `key`: value name = map key, data = the value.
    case valuePerKey
    /// Firewall rules: one REG_SZ per rule under `key`, value name = rule name, data the
    /// `v2.30|Action=...|` rule string.
    case firewallRules
}

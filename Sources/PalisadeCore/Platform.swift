/// The operating system family of an enrolled device.
public enum DevicePlatform: String, Codable, Sendable, CaseIterable, Hashable {
    case linux
    case macos
    case windows
    case windowsServer

    /// The policy platform whose policies apply to this device. Windows Server shares the
    /// Windows settings.
    public var policyPlatform: PolicyPlatform {
        switch self {
        case .linux: .linux
        case .macos: .macos
        case .windows, .windowsServer: .windows
        }
    }
}

/// The platform a policy is authored for.
public enum PolicyPlatform: String, Codable, Sendable, CaseIterable, Hashable {
    case linux
    case macos
    case windows
}

/// Who manages Defender's settings on a device.
public enum ManagementChannel: String, Codable, Sendable, CaseIterable, Hashable {
    case palisade
    case mdm
    case other
}

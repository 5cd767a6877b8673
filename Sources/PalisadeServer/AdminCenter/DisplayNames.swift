import PalisadeCore

/// How the admin center names platforms and states.
extension DevicePlatform {
    var title: String {
        switch self {
        case .linux: "Linux"
        case .macos: "macOS"
        case .windows: "Windows"
        case .windowsServer: "Windows Server"
        }
    }
}

extension PolicyPlatform {
    var title: String {
        switch self {
        case .linux: "Linux"
        case .macos: "macOS"
        case .windows: "Windows"
        }
    }
}

extension SettingState {
    var title: String {
        switch self {
        case .succeeded: "Succeeded"
        case .error: "Error"
        case .conflict: "Conflict"
        case .pending: "Pending"
        case .notApplicable: "Not applicable"
        }
    }
}

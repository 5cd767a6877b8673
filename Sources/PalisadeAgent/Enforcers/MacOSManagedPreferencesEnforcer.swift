import PalisadeCore
import PalisadeSupport

/// macOS: Defender reads the managed preferences of `com.microsoft.wdav` from
/// `/Library/Managed Preferences/com.microsoft.wdav.plist`.
public struct MacOSManagedPreferencesEnforcer: ConfigurationEnforcer {
    public let root: EnforcementRoot
    let file: ManagedFile

    public init(root: EnforcementRoot, catalog: SettingCatalog = .standard) {
        self.root = root
        self.file = ManagedFile(platform: .macos, path: root.resolve(MacOSPlistRenderer.relativePath), catalog: catalog,
                                render: { MacOSPlistRenderer.render($0) })
    }

    public var plistPath: String { file.path }

    public func apply(_ configuration: DeviceConfiguration) -> DeviceProtocol.StatusReport {
        // No plist reader in the agent: what was written is what was rendered.
        file.apply(configuration, detail: nil) { _ in [:] }
    }

    public func isInPlace(_ configuration: DeviceConfiguration) -> Bool {
        file.isInPlace(configuration)
    }

    /// The plist is compared as a whole (no plist reader in the agent yet): one finding for the file.
    public func drift(from configuration: DeviceConfiguration) -> [DriftFinding] {
        guard !file.isInPlace(configuration) else { return [] }
        return [DriftFinding(settingId: DriftEvent.wholeFile, found: nil, expected: nil, detail: "\(file.path) differs from what Palisade wrote")]
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PalisadeCore
import PalisadeSupport

/// macOS: Defender reads the managed preferences of `com.microsoft.wdav` from
/// `/Library/Managed Preferences/com.microsoft.wdav.plist`. Written atomically, removed when
/// nothing is managed.
public struct MacOSManagedPreferencesEnforcer: ConfigurationEnforcer {
    public let root: EnforcementRoot
    public let catalog: SettingCatalog

    public init(root: EnforcementRoot, catalog: SettingCatalog = .standard) {
        self.root = root
        self.catalog = catalog
    }

    public var plistPath: String { root.resolve(MacOSPlistRenderer.relativePath) }

    public func apply(_ configuration: DeviceConfiguration) -> DeviceProtocol.StatusReport {
        var applicable: [String: JSONValue] = [:]
        var results: [DeviceProtocol.SettingResult] = []
        for (id, value) in configuration.settings {
            if catalog.definition(id, platform: .macos) == nil {
                results.append(.init(settingId: id, state: .notApplicable, detail: "\(id) is not a setting that Defender on macOS reads"))
            } else {
                applicable[id] = value
            }
        }
        do {
            if let data = MacOSPlistRenderer.render(applicable) {
                try AtomicFile.createDirectory(String(plistPath[..<plistPath.lastIndex(of: "/")!]), mode: 0o755)
                try AtomicFile.write(data, to: plistPath, mode: 0o644)
            } else {
                try AtomicFile.remove(plistPath)
            }
        } catch {
            results += applicable.keys.map { .init(settingId: $0, state: .error, detail: "cannot write \(plistPath): \(error)") }
            return .init(configurationHash: configuration.hash, results: results.sorted { $0.settingId < $1.settingId }, detail: "\(error)")
        }
        results += applicable.keys.map { .init(settingId: $0, state: .succeeded) }
        return .init(configurationHash: configuration.hash, results: results.sorted { $0.settingId < $1.settingId })
    }

    public func isInPlace(_ configuration: DeviceConfiguration) -> Bool {
        let applicable = configuration.settings.filter { catalog.definition($0.key, platform: .macos) != nil }
        return MacOSPlistRenderer.render(applicable).map(Array.init) == AtomicFile.read(plistPath)
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PalisadeCore
import PalisadeSupport

/// Linux: Defender reads `/etc/opt/microsoft/mdatp/managed/mdatp_managed.json` without a
/// restart. The file holds exactly the managed keys, nested by section; it is replaced
/// atomically (mode 0644) and removed when nothing is managed.
public struct LinuxManagedFileEnforcer: ConfigurationEnforcer {
    public let root: EnforcementRoot
    public let catalog: SettingCatalog

    public init(root: EnforcementRoot, catalog: SettingCatalog = .standard) {
        self.root = root
        self.catalog = catalog
    }

    public var managedFilePath: String { root.resolve(LinuxManagedJSONRenderer.relativePath) }

    /// Defender's install location; its absence does not stop the file being written.
    public var defenderInstalled: Bool { AtomicFile.exists(root.resolve("opt/microsoft/mdatp")) }

    public func apply(_ configuration: DeviceConfiguration) -> DeviceProtocol.StatusReport {
        let hash = configuration.hash
        // Settings Linux does not read are reported, not written.
        var applicable: [String: JSONValue] = [:]
        var results: [DeviceProtocol.SettingResult] = []
        for (id, value) in configuration.settings {
            if catalog.definition(id, platform: .linux) == nil {
                results.append(.init(settingId: id, state: .notApplicable, detail: "\(id) is not a setting that Defender on Linux reads"))
            } else {
                applicable[id] = value
            }
        }
        let detail = defenderInstalled ? nil : "Defender for Endpoint is not installed; the managed file was written and applies once it is installed"
        do {
            if let data = try LinuxManagedJSONRenderer.render(applicable) {
                let directory = String(managedFilePath[..<managedFilePath.lastIndex(of: "/")!])
                try AtomicFile.createDirectory(directory, mode: 0o755)
                try AtomicFile.write(data, to: managedFilePath, mode: 0o644)
            } else {
                try AtomicFile.remove(managedFilePath)
            }
        } catch {
            for id in applicable.keys {
                results.append(.init(settingId: id, state: .error, detail: "cannot write \(managedFilePath): \(error)"))
            }
            return .init(configurationHash: hash, results: results.sorted { $0.settingId < $1.settingId }, detail: "\(error)")
        }
        // Read back what Defender will read, and check each value landed.
        let written = readSettings(ids: applicable.keys)
        for (id, value) in applicable {
            if written[id] == value {
                results.append(.init(settingId: id, state: .succeeded, detail: detail))
            } else {
                results.append(.init(settingId: id, state: .error, detail: "the managed file does not hold the value after writing it"))
            }
        }
        return .init(configurationHash: hash, results: results.sorted { $0.settingId < $1.settingId }, detail: detail)
    }

    public func isInPlace(_ configuration: DeviceConfiguration) -> Bool {
        let applicable = configuration.settings.filter { catalog.definition($0.key, platform: .linux) != nil }
        let expected = (try? LinuxManagedJSONRenderer.render(applicable)) ?? nil
        let actual = AtomicFile.read(managedFilePath)
        return expected.map(Array.init) == actual
    }

    func readSettings(ids: some Sequence<String>) -> [String: JSONValue] {
        guard let bytes = AtomicFile.read(managedFilePath),
              let document = try? CanonicalJSON.decode(JSONValue.self, from: Data(bytes)) else { return [:] }
        return LinuxManagedJSONRenderer.settings(in: document, ids: ids)
    }
}

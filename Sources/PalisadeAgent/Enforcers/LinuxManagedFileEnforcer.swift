#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PalisadeCore
import PalisadeSupport

/// Linux: Defender reads `/etc/opt/microsoft/mdatp/managed/mdatp_managed.json` without a
/// restart. The file holds exactly the managed keys, nested by section.
public struct LinuxManagedFileEnforcer: ConfigurationEnforcer {
    public let root: EnforcementRoot
    let file: ManagedFile

    public init(root: EnforcementRoot, catalog: SettingCatalog = .standard) {
        self.root = root
        self.file = ManagedFile(platform: .linux, path: root.resolve(LinuxManagedJSONRenderer.relativePath), catalog: catalog,
                                render: { try LinuxManagedJSONRenderer.render($0) })
    }

    public var managedFilePath: String { file.path }

    /// Writes the file; whether Defender is there to take it is the agent's to add (docs/STATES.md).
    public func apply(_ configuration: DeviceConfiguration) -> DeviceProtocol.StatusReport {
        file.apply(configuration, detail: nil) { applicable in
            // Read back what Defender will read, and check each value landed.
            let written = readSettings(ids: applicable.keys)
            return applicable.filter { written[$0.key] != $0.value }.mapValues { _ in "the managed file does not hold the value after writing it" }
        }
    }

    public func isInPlace(_ configuration: DeviceConfiguration) -> Bool {
        file.isInPlace(configuration)
    }

    public func drift(from configuration: DeviceConfiguration) -> [DriftFinding] {
        guard !file.isInPlace(configuration) else { return [] }
        let expected = file.split(configuration.settings).applicable
        let found = readSettings(ids: expected.keys)
        let changed = expected.keys.sorted().filter { found[$0] != expected[$0] }.map { id in
            DriftFinding(settingId: id, found: found[id], expected: expected[id])
        }
        if !changed.isEmpty { return changed }
        let what = AtomicFile.exists(file.path) ? "\(file.path) held keys or text Palisade did not write" : "\(file.path) was removed"
        return [DriftFinding(settingId: DriftEvent.wholeFile, found: nil, expected: nil, detail: what)]
    }

    func readSettings(ids: some Sequence<String>) -> [String: JSONValue] {
        guard let bytes = AtomicFile.read(file.path),
              let document = try? CanonicalJSON.decode(JSONValue.self, from: Data(bytes)) else { return [:] }
        return LinuxManagedJSONRenderer.settings(in: document, ids: ids)
    }
}

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

    /// Defender's install location; its absence does not stop the file being written.
    public var defenderInstalled: Bool { AtomicFile.exists(root.resolve("opt/microsoft/mdatp")) }

    public func apply(_ configuration: DeviceConfiguration) -> DeviceProtocol.StatusReport {
        let detail = defenderInstalled ? nil : "Defender for Endpoint is not installed; the managed file was written and applies once it is installed"
        return file.apply(configuration, detail: detail) { applicable in
            // Read back what Defender will read, and check each value landed.
            let written = readSettings(ids: applicable.keys)
            return applicable.filter { written[$0.key] != $0.value }.mapValues { _ in "the managed file does not hold the value after writing it" }
        }
    }

    public func isInPlace(_ configuration: DeviceConfiguration) -> Bool {
        file.isInPlace(configuration)
    }

    func readSettings(ids: some Sequence<String>) -> [String: JSONValue] {
        guard let bytes = AtomicFile.read(file.path),
              let document = try? CanonicalJSON.decode(JSONValue.self, from: Data(bytes)) else { return [:] }
        return LinuxManagedJSONRenderer.settings(in: document, ids: ids)
    }
}

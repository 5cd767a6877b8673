#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PalisadeCore
import PalisadeSupport

/// Linux and macOS keep Defender's managed settings in one file that holds exactly the managed
/// keys: written atomically (mode 0644), removed when nothing is managed. Settings the
/// platform does not read are reported `notApplicable`, not written.
struct ManagedFile: Sendable {
    let platform: PolicyPlatform
    let path: String
    let catalog: SettingCatalog
    let render: @Sendable ([String: JSONValue]) throws -> Data?

    /// The settings this platform reads, and a `notApplicable` result for each other one.
    func split(_ settings: [String: JSONValue]) -> (applicable: [String: JSONValue], notApplicable: [DeviceProtocol.SettingResult]) {
        var applicable: [String: JSONValue] = [:]
        var notApplicable: [DeviceProtocol.SettingResult] = []
        for (id, value) in settings {
            if catalog.definition(id, platform: platform) == nil {
                notApplicable.append(.init(settingId: id, state: .notApplicable, detail: "\(id) is not a setting that Defender on \(platform.rawValue) reads"))
            } else {
                applicable[id] = value
            }
        }
        return (applicable, notApplicable)
    }

    func write(_ applicable: [String: JSONValue]) throws {
        if let data = try render(applicable) {
            try AtomicFile.createDirectory(String(path[..<path.lastIndex(of: "/")!]), mode: 0o755)
            try AtomicFile.write(data, to: path, mode: 0o644)
        } else {
            try AtomicFile.remove(path)
        }
    }

    /// Applies and reports: `succeeded` (with `detail`) for each written setting, or `error` for
    /// all when the file cannot be written.
    func apply(_ configuration: DeviceConfiguration, detail: String?, verify: ([String: JSONValue]) -> [String: String]) -> DeviceProtocol.StatusReport {
        let (applicable, notApplicable) = split(configuration.settings)
        var results = notApplicable
        do {
            try write(applicable)
        } catch {
            results += applicable.keys.map { .init(settingId: $0, state: .error, detail: "cannot write \(path): \(error)") }
            return .init(configurationHash: configuration.hash, results: results.sorted { $0.settingId < $1.settingId }, detail: "\(error)")
        }
        let failures = verify(applicable)
        results += applicable.keys.map { id in
            failures[id].map { .init(settingId: id, state: .error, detail: $0) } ?? .init(settingId: id, state: .succeeded, detail: detail)
        }
        return .init(configurationHash: configuration.hash, results: results.sorted { $0.settingId < $1.settingId }, detail: detail)
    }

    func isInPlace(_ configuration: DeviceConfiguration) -> Bool {
        let expected = (try? render(split(configuration.settings).applicable)) ?? nil
        return expected.map(Array.init) == AtomicFile.read(path)
    }
}

import Foundation
import PalisadeCore
import PalisadeSupport

/// Where the Windows enforcer reads and writes registry values.
public protocol RegistryStore: Sendable {
    /// Every value under the given keys (not their subkeys).
    func read(keys: Set<String>) throws -> [RegistryValue]
    func apply(_ operations: [RegistryOperation]) throws
}

/// Windows: settings land as registry values under the Defender, Firewall and Advanced Threat
/// Protection policy keys. The enforcer remembers which values it wrote, deletes those it no
/// longer manages and never touches any other value.
public struct WindowsRegistryEnforcer: ConfigurationEnforcer {
    public let registry: any RegistryStore
    /// The values Palisade wrote last time (kept in the agent's state directory).
    public let managedValuesPath: String
    public let renderer: WindowsRegistryRenderer

    public init(registry: any RegistryStore, managedValuesPath: String, catalog: SettingCatalog = .standard) {
        self.registry = registry
        self.managedValuesPath = managedValuesPath
        self.renderer = WindowsRegistryRenderer(catalog: catalog)
    }

    func previouslyManaged() -> Set<RegistryValueLocation> {
        guard let bytes = AtomicFile.read(managedValuesPath),
              let locations = try? JSONDecoder().decode([RegistryValueLocation].self, from: Data(bytes)) else { return [] }
        return Set(locations)
    }

    public func apply(_ configuration: DeviceConfiguration) -> DeviceProtocol.StatusReport {
        let (desired, problems) = renderer.values(for: configuration.settings)
        var results: [DeviceProtocol.SettingResult] = problems.map { problem in
            .init(settingId: problem.settingId, state: problem.reason == "not a Windows setting" ? .notApplicable : .error, detail: problem.reason)
        }
        let rendered = configuration.settings.keys.filter { id in !problems.contains { $0.settingId == id } }
        let operations = WindowsRegistryRenderer.operations(desired: desired, previouslyManaged: previouslyManaged())
        do {
            try registry.apply(operations)
            try AtomicFile.write(try CanonicalJSON.data(desired.map(\.location).sorted()), to: managedValuesPath, mode: 0o600)
        } catch {
            results += rendered.map { .init(settingId: $0, state: .error, detail: "cannot write the registry: \(error)") }
            return .init(configurationHash: configuration.hash, results: results.sorted { $0.settingId < $1.settingId }, detail: "\(error)")
        }
        // Read back what Defender will read.
        let present = (try? registry.read(keys: Set(desired.map(\.location.key)))) ?? []
        let readBack = renderer.settings(from: present, ids: rendered)
        for id in rendered {
            let expected = renderer.settings(from: renderer.values(for: [id: configuration.settings[id]!]).values, ids: [id])[id]
            results.append(readBack[id] == expected
                ? .init(settingId: id, state: .succeeded)
                : .init(settingId: id, state: .error, detail: "the registry does not hold the value after writing it"))
        }
        return .init(configurationHash: configuration.hash, results: results.sorted { $0.settingId < $1.settingId })
    }

    public func isInPlace(_ configuration: DeviceConfiguration) -> Bool {
        let desired = Set(renderer.values(for: configuration.settings).values)
        guard let present = try? registry.read(keys: Set(desired.map(\.location.key))) else { return false }
        return desired.isSubset(of: Set(present))
    }

    public func drift(from configuration: DeviceConfiguration) -> [DriftFinding] {
        guard !isInPlace(configuration) else { return [] }
        let (desired, problems) = renderer.values(for: configuration.settings)
        let ids = configuration.settings.keys.filter { id in !problems.contains { $0.settingId == id } }.sorted()
        let present = (try? registry.read(keys: Set(desired.map(\.location.key)))) ?? []
        let found = renderer.settings(from: present, ids: ids)
        let changed = ids.compactMap { id -> DriftFinding? in
            let expected = renderer.settings(from: renderer.values(for: [id: configuration.settings[id]!]).values, ids: [id])[id]
            return found[id] == expected ? nil : DriftFinding(settingId: id, found: found[id], expected: configuration.settings[id])
        }
        return changed.isEmpty ? [DriftFinding(settingId: DriftEvent.wholeFile, found: nil, expected: nil, detail: "registry values Palisade wrote changed")] : changed
    }
}

/// A registry kept in a `.reg`-format file (Windows Registry Editor 5.00) under the
/// enforcement root: for tests and demos on machines without a Windows registry. It is a
/// stand-in for the real registry, named as such.
public struct FileBackedRegistry: RegistryStore {
    public static let relativePath = "palisade-file-backed-registry.reg"
    public let path: String

    public init(root: EnforcementRoot) {
        self.path = root.resolve(Self.relativePath)
    }

    public func read(keys: Set<String>) throws -> [RegistryValue] {
        let wanted = Set(keys.map { $0.lowercased() })
        return try readAll().filter { wanted.contains($0.location.key.lowercased()) }
    }

    public func readAll() throws -> [RegistryValue] {
        guard let bytes = AtomicFile.read(path) else { return [] }
        return try RegFileFormat.parse(String(decoding: bytes, as: UTF8.self))
    }

    public func apply(_ operations: [RegistryOperation]) throws {
        var values: [RegistryValueLocation: RegistryValue] = [:]
        for value in try readAll() { values[value.location] = value }
        for operation in operations {
            switch operation {
            case .set(let value): values[value.location] = value
            case .delete(let location): values.removeValue(forKey: location)
            }
        }
        try AtomicFile.createDirectory(String(path[..<path.lastIndex(of: "/")!]), mode: 0o755)
        try AtomicFile.write(Array(RegFileFormat.render(Array(values.values)).utf8), to: path, mode: 0o644)
    }
}

/// The `.reg` text format: `[HKEY_LOCAL_MACHINE\...]` sections of `"name"=dword:0000000a` and
/// `"name"="text"` lines.
public enum RegFileFormat {
    static let header = "Windows Registry Editor Version 5.00"

    public static func render(_ values: [RegistryValue]) -> String {
        var text = header + "\n"
        var currentKey: String?
        for value in values.sorted() {
            if value.location.key != currentKey {
                currentKey = value.location.key
                text += "\n[\(longHive(value.location.key))]\n"
            }
            let data: String = switch value.data {
            case .dword(let number): "dword:" + String(repeating: "0", count: 8 - String(number, radix: 16).count) + String(number, radix: 16)
            case .string(let string): "\"\(escape(string))\""
            }
            text += "\"\(escape(value.location.name))\"=\(data)\n"
        }
        return text
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    public static func parse(_ text: String) throws -> [RegistryValue] {
        var values: [RegistryValue] = []
        var key: String?
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line == header || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                key = shortHive(String(line.dropFirst().dropLast()))
                continue
            }
            guard let key else { throw ParseError(line: index + 1, reason: "value outside a key") }
            guard line.hasPrefix("\""), let (name, rest) = readQuoted(line[...]), rest.hasPrefix("=") else {
                throw ParseError(line: index + 1, reason: "expected \"name\"=data")
            }
            let data = rest.dropFirst()
            if data.hasPrefix("dword:"), let number = UInt32(data.dropFirst(6), radix: 16) {
                values.append(RegistryValue(key: key, name: name, data: .dword(number)))
            } else if data.hasPrefix("\""), let (string, _) = readQuoted(data) {
                values.append(RegistryValue(key: key, name: name, data: .string(string)))
            } else {
                throw ParseError(line: index + 1, reason: "unsupported data \(data)")
            }
        }
        return values
    }

    static func readQuoted(_ text: Substring) -> (String, Substring)? {
        var result = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let character = text[index]
            if character == "\\" {
                index = text.index(after: index)
                guard index < text.endIndex else { return nil }
                result.append(text[index])
            } else if character == "\"" {
                return (result, text[text.index(after: index)...])
            } else {
                result.append(character)
            }
            index = text.index(after: index)
        }
        return nil
    }

    static func escape(_ string: String) -> String {
        string.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    static func longHive(_ key: String) -> String {
        key.hasPrefix("HKLM\\") ? "HKEY_LOCAL_MACHINE\\" + key.dropFirst(5) : key
    }

    static func shortHive(_ key: String) -> String {
        key.hasPrefix("HKEY_LOCAL_MACHINE\\") ? "HKLM\\" + key.dropFirst("HKEY_LOCAL_MACHINE\\".count) : key
    }
}

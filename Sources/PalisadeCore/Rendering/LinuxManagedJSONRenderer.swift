#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Renders a configuration as Defender's Linux managed file, `mdatp_managed.json`: the dotted
/// setting ids become nested sections, and nothing else is written.
public enum LinuxManagedJSONRenderer {
    public static let relativePath = "etc/opt/microsoft/mdatp/managed/mdatp_managed.json"

    /// The nested document, or nil when nothing is managed (the file is then removed).
    public static func document(for settings: [String: JSONValue]) -> JSONValue? {
        guard !settings.isEmpty else { return nil }
        var root: [String: JSONValue] = [:]
        for (id, value) in settings {
            insert(value, at: id.split(separator: ".").map(String.init)[...], into: &root)
        }
        return .object(root)
    }

    /// The file's bytes: pretty JSON with sorted keys and a trailing newline.
    public static func render(_ settings: [String: JSONValue]) throws -> Data? {
        guard let document = document(for: settings) else { return nil }
        var data = try CanonicalJSON.data(document, pretty: true)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Reads a managed document back into setting id -> value for the given ids.
    public static func settings(in document: JSONValue, ids: some Sequence<String>) -> [String: JSONValue] {
        var found: [String: JSONValue] = [:]
        for id in ids {
            var node: JSONValue? = document
            for key in id.split(separator: ".") {
                node = node?.objectValue?[String(key)]
            }
            if let node { found[id] = node }
        }
        return found
    }

    private static func insert(_ value: JSONValue, at path: ArraySlice<String>, into object: inout [String: JSONValue]) {
        guard let first = path.first else { return }
        if path.count == 1 {
            object[first] = value
            return
        }
        var child = object[first]?.objectValue ?? [:]
        insert(value, at: path.dropFirst(), into: &child)
        object[first] = .object(child)
    }
}

import Foundation
import Hummingbird

/// A submitted HTML form (`application/x-www-form-urlencoded`), keeping repeated names in order:
/// list settings and group pickers send one value per entry.
struct FormData: Sendable {
    private(set) var pairs: [(name: String, value: String)] = []

    init(pairs: [(name: String, value: String)]) {
        self.pairs = pairs
    }

    /// Parses an encoded form (`a=1&b=x+y`); malformed escapes are kept as written.
    init(encoded: String) {
        for part in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(pieces[0])
            let value = pieces.count > 1 ? Self.decode(pieces[1]) : ""
            pairs.append((name, value))
        }
    }

    static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The first value sent under `name`, trimmed of surrounding white space.
    subscript(name: String) -> String? {
        pairs.first { $0.name == name }?.value.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every value sent under `name`, in order, raw.
    func all(_ name: String) -> [String] {
        pairs.filter { $0.name == name }.map(\.value)
    }

    /// Names that start with `prefix`, in the order first sent.
    func names(withPrefix prefix: String) -> [String] {
        var seen: Set<String> = []
        return pairs.map(\.name).filter { $0.hasPrefix(prefix) && seen.insert($0).inserted }
    }

    /// A whole number typed into `name`; an empty field is nil when `emptyMeans` says what that
    /// stands for ("no limit"), and refused otherwise. The refusal names the field.
    func wholeNumber(_ name: String, unit: String? = nil, emptyMeans: String? = nil) throws -> Int? {
        let text = self[name] ?? ""
        if text.isEmpty, emptyMeans != nil { return nil }
        guard let number = Int(text) else {
            let kind = "a whole number" + (unit.map { " of \($0)" } ?? "") + (emptyMeans.map { " or empty (\($0))" } ?? "")
            throw PalisadeError.invalid("\(name) must be \(kind), got \"\(text)\"", field: name)
        }
        return number
    }

    func has(_ name: String) -> Bool { pairs.contains { $0.name == name } }

    /// Reads a request's form body (at most the context's upload limit).
    static func read(_ request: Request, context: some RequestContext) async throws -> FormData {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        return FormData(encoded: String(buffer: buffer))
    }
}

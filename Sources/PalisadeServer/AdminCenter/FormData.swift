import Foundation
import Hummingbird

/// A submitted HTML form (`application/x-www-form-urlencoded`), keeping repeated names in order.
///
/// Every form's CSRF token is read from here (`PageRoutes.post`). A form with a fixed set of
/// fields is then decoded into a `Decodable` struct with Hummingbird's `URLEncodedFormDecoder`
/// (`decode(_:)`). The pairs themselves are read only where the decoder cannot express the
/// form: it refuses a name sent twice (`duplicateKeys`), and names are not fixed in
/// - the policy editor (`PolicyForm`): a field per catalog setting (`s.<id>`, `k.<id>.<key>`),
///   and repeated names for multiple choices (`s.<id>` once per ticked box) and table rows
///   (`o.<id>.<field>`, `kk.<id>`, `kv.<id>` once per row);
/// - assignments: `include` and `exclude` once per ticked group.
/// (The decoder reads repeated values only from names ending in `[]`, which would change the
/// pages' HTML and what a browser or script posts.)
struct FormData: Sendable {
    private(set) var pairs: [(name: String, value: String)] = []
    /// The body as sent, for `URLEncodedFormDecoder`.
    let encoded: String

    /// Parses an encoded form (`a=1&b=x+y`); malformed escapes are kept as written.
    init(encoded: String) {
        self.encoded = encoded
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

    func has(_ name: String) -> Bool { pairs.contains { $0.name == name } }

    /// The form's fixed fields, decoded by Hummingbird's `URLEncodedFormDecoder`. A body it
    /// cannot read is refused (400) naming the field where it can: a browser never sends one
    /// (each of these forms has one input per name), so the page is not shown again.
    func decode<Fields: Decodable>(_ type: Fields.Type) throws -> Fields {
        do {
            return try URLEncodedFormDecoder().decode(type, from: encoded)
        } catch let error as URLEncodedFormError {
            throw PalisadeError.invalid("the form could not be read: \(error)", field: error.code == .duplicateKeys ? error.value : nil)
        } catch let error as DecodingError {
            // Every field is optional or has a default, so what is left is a value that is not
            // text (`name[key]=…` makes `name` a map).
            let field: String? = switch error {
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): context.codingPath.first?.stringValue
            case .keyNotFound(let key, _): key.stringValue
            @unknown default: nil
            }
            throw PalisadeError.invalid("the form could not be read: " + (field.map { "\($0) is not a single value" } ?? "\(error)"), field: field)
        }
    }

    /// Reads a request's form body (at most the context's upload limit).
    static func read(_ request: Request, context: some RequestContext) async throws -> FormData {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        return FormData(encoded: String(buffer: buffer))
    }
}

/// A text field as typed, trimmed of surrounding white space; empty when the form did not send
/// it (as every field of the admin center's forms was read before).
@propertyWrapper
struct FormText: Decodable, Sendable, Equatable {
    var wrappedValue: String

    init(wrappedValue: String = "") { self.wrappedValue = wrappedValue }

    init(from decoder: any Decoder) throws {
        wrappedValue = try decoder.singleValueContainer().decode(String.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A checkbox: ticked when the browser sent it (as `on`), not when the form left it out.
@propertyWrapper
struct Checkbox: Decodable, Sendable, Equatable {
    var wrappedValue: Bool

    init(wrappedValue: Bool = false) { self.wrappedValue = wrappedValue }

    init(from decoder: any Decoder) throws {
        wrappedValue = try decoder.singleValueContainer().decode(String.self).trimmingCharacters(in: .whitespacesAndNewlines) == "on"
    }
}

extension KeyedDecodingContainer {
    /// An absent text field is empty (synthesized `Decodable` would refuse the form).
    func decode(_ type: FormText.Type, forKey key: Key) throws -> FormText {
        try decodeIfPresent(type, forKey: key) ?? FormText()
    }

    /// An absent checkbox is not ticked.
    func decode(_ type: Checkbox.Type, forKey key: Key) throws -> Checkbox {
        try decodeIfPresent(type, forKey: key) ?? Checkbox()
    }
}

/// Numbers typed into forms. A number field is decoded as text (`FormText`), not as `Int`: a
/// refused value is shown again as typed, beside its field, with a message that names the field
/// and its unit (the decoder's own error would refuse the whole form).
enum FormNumber {
    /// A whole number typed into `field`; an empty field is nil when `emptyMeans` says what
    /// that stands for ("no limit"), and refused otherwise. The refusal names the field.
    static func whole(_ text: String, field: String, unit: String? = nil, emptyMeans: String) throws -> Int? {
        if text.isEmpty { return nil }
        return try parse(text, field: field, unit: unit, emptyMeans: emptyMeans)
    }

    /// A whole number that may not be left empty.
    static func whole(_ text: String, field: String, unit: String? = nil) throws -> Int {
        try parse(text, field: field, unit: unit, emptyMeans: nil)
    }

    private static func parse(_ text: String, field: String, unit: String?, emptyMeans: String?) throws -> Int {
        guard let number = Int(text) else {
            let kind = "a whole number" + (unit.map { " of \($0)" } ?? "") + (emptyMeans.map { " or empty (\($0))" } ?? "")
            throw PalisadeError.invalid("\(field) must be \(kind), got \"\(text)\"", field: field)
        }
        return number
    }
}

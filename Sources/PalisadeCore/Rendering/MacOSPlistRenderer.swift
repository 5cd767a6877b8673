#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Renders a configuration as the managed preferences of the domain `com.microsoft.wdav`: an
/// XML property list with the same nested keys as the Linux file.
public enum MacOSPlistRenderer {
    public static let relativePath = "Library/Managed Preferences/com.microsoft.wdav.plist"

    /// The plist's bytes, or nil when nothing is managed (the file is then removed).
    public static func render(_ settings: [String: JSONValue]) -> Data? {
        guard let document = LinuxManagedJSONRenderer.document(for: settings) else { return nil }
        var text = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
            <plist version="1.0">

            """
        append(document, indent: 0, to: &text)
        text += "</plist>\n"
        return Data(text.utf8)
    }

    private static func append(_ value: JSONValue, indent: Int, to text: inout String) {
        let pad = String(repeating: "\t", count: indent)
        switch value {
        case .null: text += "\(pad)<string></string>\n"
        case .bool(let flag): text += "\(pad)<\(flag ? "true" : "false")/>\n"
        case .integer(let number): text += "\(pad)<integer>\(number)</integer>\n"
        case .number(let number): text += "\(pad)<real>\(number)</real>\n"
        case .string(let string): text += "\(pad)<string>\(escape(string))</string>\n"
        case .array(let items):
            text += "\(pad)<array>\n"
            for item in items { append(item, indent: indent + 1, to: &text) }
            text += "\(pad)</array>\n"
        case .object(let object):
            text += "\(pad)<dict>\n"
            for key in object.keys.sorted() {
                text += "\(pad)\t<key>\(escape(key))</key>\n"
                append(object[key]!, indent: indent + 1, to: &text)
            }
            text += "\(pad)</dict>\n"
        }
    }

    static func escape(_ string: String) -> String {
        var result = ""
        for character in string {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            default: result.append(character)
            }
        }
        return result
    }
}

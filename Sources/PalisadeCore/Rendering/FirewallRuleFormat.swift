/// Windows Firewall rules as Group Policy stores them: one REG_SZ per rule, value name = rule
/// name, data a `|`-separated rule string (`v2.30|Action=Block|Active=TRUE|Dir=In|...|`).
public enum FirewallRuleFormat {
    public static let schema = ObjectSchema(
        fields: [
            .init("name", .string(minLength: 1), required: true),
            .init("enabled", .boolean),
            .init("direction", .enumeration(["in", "out"]), required: true),
            .init("action", .enumeration(["allow", "block"]), required: true),
            .init("protocol", .integer(minimum: 0, maximum: 255)),
            .init("localPorts", .string(minLength: 1)),
            .init("remotePorts", .string(minLength: 1)),
            .init("localAddresses", .string(minLength: 1)),
            .init("remoteAddresses", .string(minLength: 1)),
            .init("application", .string(minLength: 1)),
            .init("packageFamilyName", .string(minLength: 1)),
            .init("serviceName", .string(minLength: 1)),
            .init("profiles", .integer(minimum: 1, maximum: 7)),
            .init("edgeTraversal", .boolean),
        ],
        keyField: "name")

    /// Fields in the order the rule string lists them, with their rule-string names.
    static let stringFields: [(field: String, token: String)] = [
        ("protocol", "Protocol"), ("localPorts", "LPort"), ("remotePorts", "RPort"),
        ("localAddresses", "LA4"), ("remoteAddresses", "RA4"), ("application", "App"),
        ("packageFamilyName", "PFN"), ("serviceName", "Svc"), ("name", "Name"),
    ]
    static let profileBits: [(bit: Int64, name: String)] = [(1, "Domain"), (2, "Private"), (4, "Public")]

    public static func ruleString(_ rule: [String: JSONValue]) -> String {
        var parts = ["v2.30"]
        parts.append("Action=" + (rule["action"]?.stringValue == "block" ? "Block" : "Allow"))
        parts.append("Active=" + (rule["enabled"]?.boolValue == false ? "FALSE" : "TRUE"))
        parts.append("Dir=" + (rule["direction"]?.stringValue == "out" ? "Out" : "In"))
        if let profiles = rule["profiles"]?.integerValue {
            for (bit, name) in profileBits where profiles & bit != 0 { parts.append("Profile=\(name)") }
        }
        for (field, token) in stringFields {
            guard let value = rule[field] else { continue }
            parts.append("\(token)=" + (value.stringValue ?? value.integerValue.map(String.init) ?? value.description))
        }
        if let edge = rule["edgeTraversal"]?.boolValue { parts.append("Edge=" + (edge ? "TRUE" : "FALSE")) }
        return parts.joined(separator: "|") + "|"
    }

    /// Parses a rule string back into the rule's fields (the inverse of `ruleString`).
    public static func rule(from string: String) -> [String: JSONValue]? {
        let parts = string.split(separator: "|").map(String.init)
        guard parts.first == "v2.30" else { return nil }
        var rule: [String: JSONValue] = [:]
        var profiles: Int64 = 0
        for part in parts.dropFirst() {
            guard let equals = part.firstIndex(of: "=") else { return nil }
            let token = String(part[..<equals])
            let value = String(part[part.index(after: equals)...])
            switch token {
            case "Action": rule["action"] = .string(value.lowercased())
            case "Active": rule["enabled"] = .bool(value == "TRUE")
            case "Dir": rule["direction"] = .string(value.lowercased())
            case "Edge": rule["edgeTraversal"] = .bool(value == "TRUE")
            case "Profile": profiles |= profileBits.first { $0.name == value }?.bit ?? 0
            default:
                guard let field = stringFields.first(where: { $0.token == token })?.field else { return nil }
                rule[field] = field == "protocol" ? Int64(value).map(JSONValue.integer) ?? .string(value) : .string(value)
            }
        }
        if profiles != 0 { rule["profiles"] = .integer(profiles) }
        return rule
    }
}

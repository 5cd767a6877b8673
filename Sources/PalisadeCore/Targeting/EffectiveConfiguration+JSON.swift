/// The stored form of an effective configuration, written directly: the same document as
/// `CanonicalJSON.string` (sorted keys, nil fields omitted) at a fraction of the cost, which
/// matters when a change recomputes tens of thousands of devices.
extension EffectiveConfiguration {
    public var canonicalJSON: String {
        var output: [UInt8] = []
        output.reserveCapacity(1024)
        output.append(UInt8(ascii: "{"))
        Self.key("conflicts", first: true, &output)
        Self.object(conflicts, &output) { values, output in
            Self.array(values, &output) { competing, output in Self.sourced(competing.policies, competing.value, &output) }
        }
        if let exclusion {
            Self.key("exclusion", &output)
            CanonicalJSON.writeString(exclusion, into: &output)
        }
        if let leaveUntouched {
            Self.key("leaveUntouched", &output)
            output.append(contentsOf: (leaveUntouched ? "true" : "false").utf8)
        }
        Self.key("platform", &output)
        CanonicalJSON.writeString(platform.rawValue, into: &output)
        Self.key("policies", &output)
        Self.array(policies, &output, Self.reference)
        Self.key("settings", &output)
        Self.object(settings, &output) { setting, output in Self.sourced(setting.policies, setting.value, &output) }
        output.append(UInt8(ascii: "}"))
        return String(decoding: output, as: UTF8.self)
    }

    private static func key(_ name: String, first: Bool = false, _ output: inout [UInt8]) {
        if !first { output.append(UInt8(ascii: ",")) }
        CanonicalJSON.writeString(name, into: &output)
        output.append(UInt8(ascii: ":"))
    }

    private static func array<T>(_ items: [T], _ output: inout [UInt8], _ write: (T, inout [UInt8]) -> Void) {
        output.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            write(item, &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    private static func object<T>(_ object: [String: T], _ output: inout [UInt8], _ write: (T, inout [UInt8]) -> Void) {
        output.append(UInt8(ascii: "{"))
        for (index, key) in object.keys.sorted().enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            CanonicalJSON.writeString(key, into: &output)
            output.append(UInt8(ascii: ":"))
            write(object[key]!, &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    /// `{"policies":[...],"value":...}`: a delivered setting or one competing value.
    private static func sourced(_ policies: [PolicyReference], _ value: JSONValue, _ output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        key("policies", first: true, &output)
        array(policies, &output, reference)
        key("value", &output)
        CanonicalJSON.write(value, into: &output)
        output.append(UInt8(ascii: "}"))
    }

    private static func reference(_ reference: PolicyReference, _ output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        key("groupIds", first: true, &output)
        array(reference.groupIds, &output) { CanonicalJSON.writeString($0, into: &$1) }
        key("id", &output)
        CanonicalJSON.writeString(reference.id, into: &output)
        key("name", &output)
        CanonicalJSON.writeString(reference.name, into: &output)
        key("revision", &output)
        output.append(contentsOf: String(reference.revision).utf8)
        output.append(UInt8(ascii: "}"))
    }
}

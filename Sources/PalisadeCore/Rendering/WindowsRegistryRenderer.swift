/// A registry value Palisade writes: where, which type, which data.
public struct RegistryValue: Sendable, Hashable, Codable, Comparable {
    public enum Data: Sendable, Hashable, Codable {
        case dword(UInt32)
        case string(String)

        public var typeName: String {
            switch self {
            case .dword: "REG_DWORD"
            case .string: "REG_SZ"
            }
        }
    }

    public var location: RegistryValueLocation
    public var data: Data

    public init(key: String, name: String, data: Data) {
        self.location = RegistryValueLocation(key: key, name: name)
        self.data = data
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.location < rhs.location }
}

/// A change to the registry: the Windows enforcer's unit of work.
public enum RegistryOperation: Sendable, Hashable, Codable {
    case set(RegistryValue)
    case delete(RegistryValueLocation)
}

/// Renders a Windows configuration as registry values, exactly as the ADMX (or the reference
/// table `windows-settings.json`) places them, and reads values back into settings.
public struct WindowsRegistryRenderer: Sendable {
    public let catalog: SettingCatalog

    public init(catalog: SettingCatalog = .standard) {
        self.catalog = catalog
    }

    public struct Problem: Error, Sendable, Hashable {
        public var settingId: String
        public var reason: String
    }

    /// The values that must exist for `settings`; settings that cannot be rendered are returned
    /// as problems (unknown id, or a value of the wrong shape).
    public func values(for settings: [String: JSONValue]) -> (values: [RegistryValue], problems: [Problem]) {
        var values: [RegistryValue] = []
        var problems: [Problem] = []
        for (id, value) in settings.sorted(by: { $0.key < $1.key }) {
            guard let definition = catalog.definition(id, platform: .windows), let target = definition.registry else {
                problems.append(Problem(settingId: id, reason: "not a Windows setting"))
                continue
            }
            do {
                values += try Self.values(for: value, target: target)
            } catch let problem as RenderProblem {
                problems.append(Problem(settingId: id, reason: problem.reason))
            } catch {
                problems.append(Problem(settingId: id, reason: "\(error)"))
            }
        }
        return (values.sorted(), problems)
    }

    struct RenderProblem: Error {
        var reason: String
    }

    static func values(for value: JSONValue, target: RegistryTarget) throws -> [RegistryValue] {
        var result: [RegistryValue] = []
        if let enabler = target.enabler {
            result.append(RegistryValue(key: enabler.key, name: enabler.name, data: .dword(1)))
        }
        func single(_ data: RegistryValue.Data) throws {
            guard let name = target.valueName else { throw RenderProblem(reason: "no value name") }
            result.append(RegistryValue(key: target.key, name: name, data: data))
        }
        switch target.encoding {
        case .boolean(let whenTrue, let whenFalse):
            guard let flag = value.boolValue else { throw RenderProblem(reason: "expected a boolean") }
            try single(.dword(flag ? whenTrue : whenFalse))
        case .dword:
            guard let number = value.integerValue, let dword = UInt32(exactly: number) else { throw RenderProblem(reason: "expected an integer from 0 to \(UInt32.max)") }
            try single(.dword(dword))
        case .string:
            guard let string = value.stringValue else { throw RenderProblem(reason: "expected a string") }
            try single(.string(string))
        case .valuePerItem(let data):
            guard let items = value.arrayValue?.compactMap(\.stringValue) else { throw RenderProblem(reason: "expected a list of strings") }
            result += items.map { RegistryValue(key: target.key, name: $0, data: .string(data)) }
        case .valuePerKey:
            guard let object = value.objectValue else { throw RenderProblem(reason: "expected an object") }
            for (key, item) in object.sorted(by: { $0.key < $1.key }) {
                let data = item.integerValue.map(String.init) ?? item.stringValue ?? item.description
                result.append(RegistryValue(key: target.key, name: key, data: .string(data)))
            }
        case .firewallRules:
            guard let rules = value.arrayValue else { throw RenderProblem(reason: "expected a list of rules") }
            for rule in rules {
                guard let fields = rule.objectValue, let name = fields["name"]?.stringValue else { throw RenderProblem(reason: "a rule has no name") }
                result.append(RegistryValue(key: target.key, name: name, data: .string(FirewallRuleFormat.ruleString(fields))))
            }
        }
        return result
    }

    /// The operations that take a registry from `previouslyManaged` (what Palisade wrote last
    /// time) to `desired`: set every desired value, delete every value Palisade no longer
    /// manages. Values Palisade never wrote are not touched.
    public static func operations(desired: [RegistryValue], previouslyManaged: Set<RegistryValueLocation>) -> [RegistryOperation] {
        let desiredLocations = Set(desired.map(\.location))
        let deletions = previouslyManaged.subtracting(desiredLocations).sorted().map(RegistryOperation.delete)
        return deletions + desired.sorted().map(RegistryOperation.set)
    }

    /// Reads the settings back from registry values (the inverse of `values(for:)`), for the
    /// given setting ids.
    public func settings(from values: [RegistryValue], ids: some Sequence<String>) -> [String: JSONValue] {
        var byKey: [String: [RegistryValue]] = [:]
        for value in values { byKey[value.location.key.lowercased(), default: []].append(value) }
        func lookup(_ key: String, _ name: String) -> RegistryValue.Data? {
            byKey[key.lowercased()]?.first { $0.location.name.lowercased() == name.lowercased() }?.data
        }
        var result: [String: JSONValue] = [:]
        for id in ids {
            guard let target = catalog.definition(id, platform: .windows)?.registry else { continue }
            let under = byKey[target.key.lowercased()] ?? []
            switch target.encoding {
            case .boolean(let whenTrue, let whenFalse):
                if case .dword(let data)? = target.valueName.flatMap({ lookup(target.key, $0) }) {
                    if data == whenTrue { result[id] = .bool(true) } else if data == whenFalse { result[id] = .bool(false) }
                }
            case .dword:
                if case .dword(let data)? = target.valueName.flatMap({ lookup(target.key, $0) }) { result[id] = .integer(Int64(data)) }
            case .string:
                if case .string(let data)? = target.valueName.flatMap({ lookup(target.key, $0) }) { result[id] = .string(data) }
            case .valuePerItem:
                if !under.isEmpty { result[id] = .array(under.sorted().map { .string($0.location.name) }) }
            case .valuePerKey:
                var object: [String: JSONValue] = [:]
                for value in under {
                    if case .string(let data) = value.data { object[value.location.name] = Int64(data).map(JSONValue.integer) ?? .string(data) }
                }
                if !object.isEmpty { result[id] = .object(object) }
            case .firewallRules:
                let rules = under.sorted().compactMap { value -> JSONValue? in
                    guard case .string(let data) = value.data, let rule = FirewallRuleFormat.rule(from: data) else { return nil }
                    return .object(rule)
                }
                if !rules.isEmpty { result[id] = .array(rules) }
            }
        }
        return result
    }
}

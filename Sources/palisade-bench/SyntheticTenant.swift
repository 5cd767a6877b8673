import Foundation
import PalisadeCore

/// A seeded synthetic tenant: the same arguments build the same tenant. By default 100k
/// devices (40 % Linux, 40 % Windows, 20 % macOS, 0-3 of 50 tags each), 1k groups (half
/// static groups of 200 devices, some nesting two others; half dynamic, with rules over
/// platform, tags, name prefixes and OS versions) and 200 policies (1-5 settings each,
/// 1-3 include groups, sometimes an exclude group).
struct SyntheticTenant {
    var devices: [DirectoryIndex.Device] = []
    var groups: [(id: String, group: DirectoryIndex.Group, rule: String?)] = []
    var policies: [AssignedPolicy] = []

    init(devices deviceCount: Int, groups groupCount: Int, policies policyCount: Int) throws {
        var rng = SeededRandomNumberGenerator(seed: 42)
        let tags = (0..<50).map { "tag\($0)" }
        let platforms: [DevicePlatform] = [.linux, .linux, .windows, .windows, .macos]
        devices = (0..<deviceCount).map { n -> DirectoryIndex.Device in
            let platform = platforms[n % platforms.count]
            let deviceTags = (0..<Int.random(in: 0...3, using: &rng)).map { _ in tags.randomElement(using: &rng)! }
            return DirectoryIndex.Device(id: "device-\(n)", platform: platform, attributes: DeviceAttributes(
                platform: platform.rawValue, osVersion: "os-\(n % 7)", name: "host-\(n)", tags: deviceTags, agentVersion: "0.1.\(n % 3)"))
        }

        for g in 0..<groupCount {
            if g % 2 == 0 {
                let members = Set((0..<200).map { _ in "device-\(Int.random(in: 0..<deviceCount, using: &rng))" })
                let nested: Set<String> = g >= 20 && g % 10 == 0 ? ["group-\(g - 2)", "group-\(g - 4)"] : []
                groups.append(("group-\(g)", .members(devices: members, groups: nested), nil))
            } else {
                let rules = [
                    #"device.platform -eq "\#(platforms.randomElement(using: &rng)!.rawValue)" -and device.tags -contains "\#(tags.randomElement(using: &rng)!)""#,
                    #"device.tags -contains "\#(tags.randomElement(using: &rng)!)" -or device.tags -contains "\#(tags.randomElement(using: &rng)!)""#,
                    #"device.name -startsWith "host-\#(Int.random(in: 1...99, using: &rng))""#,
                    #"device.osVersion -in ["os-1", "os-\#(Int.random(in: 2...6, using: &rng))"] -and -not device.tags -contains "tag0""#,
                ]
                let rule = rules.randomElement(using: &rng)!
                groups.append(("group-\(g)", .dynamic(try MembershipRuleParser.parse(rule)), rule))
            }
        }

        let catalog = SettingCatalog.standard
        for p in 0..<policyCount {
            let platform = PolicyPlatform.allCases[p % 3]
            let candidates = catalog.definitions(platform: platform).filter {
                switch $0.type { case .boolean, .enumeration, .integerEnumeration, .integer: true; default: false }
            }
            var settings: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 1...5, using: &rng) {
                let definition = candidates.randomElement(using: &rng)!
                settings[definition.id] = Self.sample(definition.type, &rng)
            }
            let include = Set((0..<Int.random(in: 1...3, using: &rng)).map { _ in "group-\(Int.random(in: 0..<groupCount, using: &rng))" })
            let exclude: Set<String> = Bool.random(using: &rng) ? ["group-\(Int.random(in: 0..<groupCount, using: &rng))"] : []
            policies.append(AssignedPolicy(policy: PolicySnapshot(id: "policy-\(p)", name: "Policy \(p)", revision: 1, platform: platform, settings: settings),
                                           includeGroups: include, excludeGroups: exclude.subtracting(include)))
        }
    }

    /// A dynamic group that some policy includes, so that devices it moves really change configuration.
    var includedDynamicGroup: String {
        let included = Set(policies.flatMap(\.includeGroups))
        return groups.first { group in
            if case .dynamic = group.group { included.contains(group.id) } else { false }
        }!.id
    }

    static let ruleChange = #"device.name -startsWith "host-1""#

    static func sample(_ type: SettingValueType, _ rng: inout SeededRandomNumberGenerator) -> JSONValue {
        switch type {
        case .boolean: .bool(Bool.random(using: &rng))
        case .integer(let minimum, _): .integer(minimum ?? 0)
        case .enumeration(let values): .string(values.randomElement(using: &rng)!)
        case .integerEnumeration(let options): .integer(Int64(options.randomElement(using: &rng)!.value)!)
        default: .null
        }
    }
}

func milliseconds(_ duration: Duration) -> String {
    String(format: "%.3f ms", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000)
}

/// The median, 99th percentile and maximum of some timings.
func percentiles(_ times: [Duration]) -> String {
    let sorted = times.sorted()
    return "median \(milliseconds(sorted[sorted.count / 2])), p99 \(milliseconds(sorted[sorted.count * 99 / 100])), max \(milliseconds(sorted.last!))"
}

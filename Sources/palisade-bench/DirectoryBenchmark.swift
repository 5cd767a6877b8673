import Foundation
import PalisadeCore

/// `swift run -c release palisade-bench [--devices N] [--groups N] [--policies N]`
///
/// Builds a synthetic tenant (by default 100k devices, 1k groups of which half are dynamic,
/// 200 policies) in the directory engine and measures: a full recompute of every device's
/// effective configuration (memberships, merge and hash), a rule change that moves about 10k
/// devices, and single-device tag changes. Seeded: the same arguments build the same tenant.
@main
struct DirectoryBenchmark {
    static func main() throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String, _ fallback: Int) -> Int {
            guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return fallback }
            arguments.removeSubrange(index...index + 1)
            return value
        }
        let deviceCount = option("--devices", 100_000)
        let groupCount = option("--groups", 1_000)
        let policyCount = option("--policies", 200)
        var rng = SeededRandomNumberGenerator(seed: 42)
        let clock = ContinuousClock()

        let tags = (0..<50).map { "tag\($0)" }
        let platforms: [DevicePlatform] = [.linux, .linux, .windows, .windows, .macos]
        let devices = (0..<deviceCount).map { n -> DirectoryIndex.Device in
            let platform = platforms[n % platforms.count]
            let deviceTags = (0..<Int.random(in: 0...3, using: &rng)).map { _ in tags.randomElement(using: &rng)! }
            return DirectoryIndex.Device(id: "device-\(n)", platform: platform, attributes: DeviceAttributes(
                platform: platform.rawValue, osVersion: "os-\(n % 7)", name: "host-\(n)", tags: deviceTags, agentVersion: "0.1.\(n % 3)"))
        }

        var groups: [(String, DirectoryIndex.Group)] = []
        for g in 0..<groupCount {
            if g % 2 == 0 {
                let members = Set((0..<200).map { _ in "device-\(Int.random(in: 0..<deviceCount, using: &rng))" })
                let nested: Set<String> = g >= 20 && g % 10 == 0 ? ["group-\(g - 2)", "group-\(g - 4)"] : []
                groups.append(("group-\(g)", .members(devices: members, groups: nested)))
            } else {
                let rules = [
                    #"device.platform -eq "\#(platforms.randomElement(using: &rng)!.rawValue)" -and device.tags -contains "\#(tags.randomElement(using: &rng)!)""#,
                    #"device.tags -contains "\#(tags.randomElement(using: &rng)!)" -or device.tags -contains "\#(tags.randomElement(using: &rng)!)""#,
                    #"device.name -startsWith "host-\#(Int.random(in: 1...99, using: &rng))""#,
                    #"device.osVersion -in ["os-1", "os-\#(Int.random(in: 2...6, using: &rng))"] -and -not device.tags -contains "tag0""#,
                ]
                groups.append(("group-\(g)", .dynamic(try MembershipRuleParser.parse(rules.randomElement(using: &rng)!))))
            }
        }

        let catalog = SettingCatalog.standard
        var policies: [AssignedPolicy] = []
        for p in 0..<policyCount {
            let platform = PolicyPlatform.allCases[p % 3]
            let candidates = catalog.definitions(platform: platform).filter {
                switch $0.type { case .boolean, .enumeration, .integerEnumeration, .integer: true; default: false }
            }
            var settings: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 1...5, using: &rng) {
                let definition = candidates.randomElement(using: &rng)!
                settings[definition.id] = sample(definition.type, &rng)
            }
            let include = Set((0..<Int.random(in: 1...3, using: &rng)).map { _ in "group-\(Int.random(in: 0..<groupCount, using: &rng))" })
            let exclude: Set<String> = Bool.random(using: &rng) ? ["group-\(Int.random(in: 0..<groupCount, using: &rng))"] : []
            policies.append(AssignedPolicy(policy: PolicySnapshot(id: "policy-\(p)", name: "Policy \(p)", revision: 1, platform: platform, settings: settings),
                                           includeGroups: include, excludeGroups: exclude.subtracting(include)))
        }

        // 1. Full recompute: memberships from scratch, then every device's configuration and hash.
        var index = DirectoryIndex(catalog: catalog)
        let membershipTime = try clock.measure {
            try index.load(devices: devices, groups: groups, policies: policies)
        }
        if ProcessInfo.processInfo.environment["BENCH_PHASES"] != nil {
            var probe = DirectoryIndex(catalog: catalog)
            let d = clock.measure { for device in devices { probe.upsert(device) } }
            let st = try clock.measure { for (id, group) in groups { if case .members = group { try probe.setGroup(id, group) } } }
            let dy = try clock.measure { for (id, group) in groups { if case .dynamic = group { try probe.setGroup(id, group) } } }
            let po = clock.measure { for policy in policies { probe.setPolicy(policy) } }
            print("phases: devices \(d), static \(st), dynamic \(dy), policies \(po)")
        }
        var hashes: [String: String] = [:]
        var conflicted = 0
        let configurationTime = clock.measure {
            for device in devices {
                let configuration = index.effectiveConfiguration(of: device.id)!
                if !configuration.conflicts.isEmpty { conflicted += 1 }
                hashes[device.id] = configuration.deviceConfiguration.hash
            }
        }

        // 2. A rule change that moves about 10k devices.
        // A dynamic group that policies include, so that moved devices really change configuration.
        let included = Set(policies.flatMap(\.includeGroups))
        let target = groups.first { group in
            if case .dynamic = group.1 { included.contains(group.0) } else { false }
        }!.0
        let newRule = try MembershipRuleParser.parse(#"device.name -startsWith "host-1""#)
        var moved = 0
        var changedConfigurations = 0
        let ruleChangeTime = try clock.measure {
            let affected = try index.setGroup(target, .dynamic(newRule))
            moved = affected.count
            for id in affected {
                let hash = index.effectiveConfiguration(of: id)!.deviceConfiguration.hash
                if hashes[id] != hash { changedConfigurations += 1 }
                hashes[id] = hash
            }
        }

        // 3. Tag changes on single devices: membership re-evaluation plus recompute.
        var tagTimes: [Duration] = []
        for n in 0..<1000 {
            var device = devices[Int.random(in: 0..<deviceCount, using: &rng)]
            device.attributes.tags.append("tag\(n % 50)")
            tagTimes.append(clock.measure {
                for id in index.upsert(device) {
                    hashes[id] = index.effectiveConfiguration(of: id)!.deviceConfiguration.hash
                }
            })
        }
        tagTimes.sort()

        func ms(_ duration: Duration) -> String { String(format: "%.3f ms", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000) }
        print("""
            palisade-bench: \(deviceCount) devices, \(groupCount) groups (\(groupCount / 2) dynamic), \(policyCount) policies
            full recompute:        \(ms(membershipTime + configurationTime)) (memberships \(ms(membershipTime)), configurations and hashes \(ms(configurationTime)); \(conflicted) devices with conflicts)
            rule change:           \(ms(ruleChangeTime)) (\(moved) devices moved, \(changedConfigurations) configurations changed)
            tag change, one device: median \(ms(tagTimes[tagTimes.count / 2])), p99 \(ms(tagTimes[tagTimes.count * 99 / 100])), max \(ms(tagTimes.last!))
            """)
    }

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

import Foundation
import PalisadeCore

/// The directory engine alone (`PalisadeCore/Directory/DirectoryIndex`), no database: a full
/// recompute of every device's effective configuration (memberships, merge and hash), a rule
/// change that moves about 10k devices, and single-device tag changes.
enum EngineBenchmark {
    static func run(_ tenant: SyntheticTenant, phases: Bool) throws {
        let clock = ContinuousClock()
        let catalog = SettingCatalog.standard
        let groups = tenant.groups.map { ($0.id, $0.group) }

        // 1. Full recompute: memberships from scratch, then every device's configuration and hash.
        var index = DirectoryIndex(catalog: catalog)
        let membershipTime = try clock.measure {
            try index.load(devices: tenant.devices, groups: groups, policies: tenant.policies)
        }
        if phases {
            var probe = DirectoryIndex(catalog: catalog)
            let d = clock.measure { for device in tenant.devices { probe.upsert(device) } }
            let st = try clock.measure { for (id, group) in groups { if case .members = group { try probe.setGroup(id, group) } } }
            let dy = try clock.measure { for (id, group) in groups { if case .dynamic = group { try probe.setGroup(id, group) } } }
            let po = clock.measure { for policy in tenant.policies { probe.setPolicy(policy) } }
            print("phases: devices \(d), static \(st), dynamic \(dy), policies \(po)")
        }
        var hashes: [String: String] = [:]
        var conflicted = 0
        let configurationTime = clock.measure {
            // As the server does: devices with the same inputs share one merge and hash.
            var computed: [DirectoryIndex.ConfigurationInputs: (hash: String, conflicted: Bool)] = [:]
            for (device, inputs) in zip(tenant.devices, index.configurationInputs(of: tenant.devices.map(\.id))) {
                let inputs = inputs!
                let result = computed[inputs] ?? {
                    let configuration = index.effectiveConfiguration(for: inputs)
                    let result = (configuration.deviceConfiguration.hash, !configuration.conflicts.isEmpty)
                    computed[inputs] = result
                    return result
                }()
                if result.conflicted { conflicted += 1 }
                hashes[device.id] = result.hash
            }
        }
        if phases {
            let memberships = clock.measure { for device in tenant.devices { _ = index.groups(of: device.id) } }
            var inputs: [DirectoryIndex.ConfigurationInputs] = []
            let targeting = clock.measure { for device in tenant.devices { inputs.append(index.configurationInputs(of: device.id)!) } }
            let distinct = Set(inputs)
            let merging = clock.measure { for input in distinct { _ = index.effectiveConfiguration(for: input).deviceConfiguration.hash } }
            print("configuration phases: groups of each device \(memberships), inputs (groups + targeting) \(targeting), \(distinct.count) distinct inputs merged and hashed \(merging)")
            var documents: Set<String> = []
            let encoding = clock.measure { for device in tenant.devices { documents.insert(index.effectiveConfiguration(of: device.id)!.canonicalJSON) } }
            let averageBytes = documents.reduce(0) { $0 + $1.utf8.count } / max(documents.count, 1)
            print("stored documents: \(documents.count) distinct, \(averageBytes) bytes on average, configurations and encoding \(encoding); \(Set(hashes.values).count) distinct delivered hashes")
        }

        // 2. A rule change that moves about 10k devices, with their recompute.
        let newRule = try MembershipRuleParser.parse(SyntheticTenant.ruleChange)
        var moved = 0
        var changedConfigurations = 0
        let ruleChangeTime = try clock.measure {
            let affected = try index.setGroup(tenant.includedDynamicGroup, .dynamic(newRule))
            moved = affected.count
            var computed: [DirectoryIndex.ConfigurationInputs: String] = [:]
            let ids = Array(affected)
            for (id, inputs) in zip(ids, index.configurationInputs(of: ids)) {
                let hash = computed[inputs!] ?? index.effectiveConfiguration(for: inputs!).deviceConfiguration.hash
                computed[inputs!] = hash
                if hashes[id] != hash { changedConfigurations += 1 }
                hashes[id] = hash
            }
        }

        // 3. Tag changes on single devices: membership re-evaluation plus recompute.
        var rng = SeededRandomNumberGenerator(seed: 7)
        var tagTimes: [Duration] = []
        for n in 0..<1000 {
            var device = tenant.devices[Int.random(in: 0..<tenant.devices.count, using: &rng)]
            device.attributes.tags.append("tag\(n % 50)")
            tagTimes.append(clock.measure {
                for id in index.upsert(device) {
                    hashes[id] = index.effectiveConfiguration(of: id)!.deviceConfiguration.hash
                }
            })
        }

        print("""
            engine: \(tenant.devices.count) devices, \(tenant.groups.count) groups (\(tenant.groups.count / 2) dynamic), \(tenant.policies.count) policies
            full recompute:        \(milliseconds(membershipTime + configurationTime)) (memberships \(milliseconds(membershipTime)), configurations and hashes \(milliseconds(configurationTime)); \(conflicted) devices with conflicts)
            rule change:           \(milliseconds(ruleChangeTime)) (\(moved) devices moved, \(changedConfigurations) configurations changed)
            tag change, one device: \(percentiles(tagTimes))
            """)
    }
}

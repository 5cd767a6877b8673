import PalisadeCore
import Testing

/// The directory engine, table-driven: memberships (static, nested, dynamic), scope and merge.
@Suite struct DirectoryIndexTests {
    func device(_ id: String, _ platform: DevicePlatform = .linux, tags: [String] = [], managedBy: ManagementChannel = .palisade) -> DirectoryIndex.Device {
        DirectoryIndex.Device(id: id, platform: platform, attributes: DeviceAttributes(platform: platform.rawValue, name: id, tags: tags, managementType: managedBy.rawValue), managedBy: managedBy)
    }

    func policy(_ id: String, _ settings: [String: JSONValue], platform: PolicyPlatform = .linux, include: Set<String>, exclude: Set<String> = []) -> AssignedPolicy {
        AssignedPolicy(policy: PolicySnapshot(id: id, name: id, revision: 1, platform: platform, settings: settings), includeGroups: include, excludeGroups: exclude)
    }

    func delivered(_ index: DirectoryIndex, _ id: String) -> [String: JSONValue] {
        index.effectiveConfiguration(of: id)?.deliveredSettings ?? [:]
    }

    @Test func excludeBeatsIncludeAndNestedGroupsReachTheirMembers() throws {
        var index = DirectoryIndex()
        for id in ["a", "b", "c"] { index.upsert(device(id)) }
        try index.setGroup("web", .members(devices: ["a"], groups: []))
        try index.setGroup("db", .members(devices: ["b"], groups: []))
        try index.setGroup("servers", .members(devices: [], groups: ["web", "db"]))
        try index.setGroup("quarantine", .members(devices: ["b"], groups: []))
        index.setPolicy(policy("p", ["cloudService.enabled": true], include: ["servers"], exclude: ["quarantine"]))
        #expect(delivered(index, "a") == ["cloudService.enabled": true], "nested: web is in servers")
        #expect(delivered(index, "b") == [:], "exclude wins")
        #expect(delivered(index, "c") == [:])
        #expect(index.groups(of: "a") == ["web", "servers"])
    }

    @Test func cyclesAndUnknownNestedGroupsAreRefused() throws {
        var index = DirectoryIndex()
        try index.setGroup("a", .members(devices: [], groups: []))
        try index.setGroup("b", .members(devices: [], groups: ["a"]))
        #expect(throws: DirectoryIndex.Problem.cycle(["a", "b", "a"])) { try index.setGroup("a", .members(devices: [], groups: ["b"])) }
        #expect(throws: DirectoryIndex.Problem.cycle(["a", "a"])) { try index.setGroup("a", .members(devices: [], groups: ["a"])) }
        #expect(throws: DirectoryIndex.Problem.unknownGroup("zz")) { try index.setGroup("c", .members(devices: [], groups: ["zz"])) }
    }

    @Test func dynamicMembershipFollowsAttributesIncrementally() throws {
        var index = DirectoryIndex()
        index.upsert(device("a", tags: ["prod"]))
        index.upsert(device("b"))
        let changed = try index.setGroup("prod", .dynamic(try MembershipRuleParser.parse(#"device.tags -contains "PROD" -and device.platform -eq "linux""#)))
        #expect(changed == ["a"])
        index.setPolicy(policy("p", ["antivirusEngine.enforcementLevel": "real_time"], include: ["prod"]))
        #expect(delivered(index, "a").count == 1)
        #expect(index.upsert(device("b", tags: ["prod"])) == ["b"])
        #expect(delivered(index, "b").count == 1, "a tag change brings the device in")
        index.upsert(device("a"))
        #expect(delivered(index, "a").isEmpty, "and takes it out")
        #expect(index.upsert(device("b", tags: ["prod"])) == [], "an unchanged device changes nothing")
    }

    @Test func aRuleChangeReportsExactlyTheDevicesThatMoved() throws {
        var index = DirectoryIndex()
        for n in 0..<10 { index.upsert(device("d\(n)", n < 5 ? .linux : .macos)) }
        try index.setGroup("g", .dynamic(try MembershipRuleParser.parse(#"device.platform -eq "linux""#)))
        let moved = try index.setGroup("g", .dynamic(try MembershipRuleParser.parse(#"device.name -in ["d0", "d9"]"#)))
        #expect(moved == ["d1", "d2", "d3", "d4", "d9"])
    }

    struct ScopeCase: Sendable, CustomTestStringConvertible {
        var name: String
        var scope: EnforcementScope
        var device: DirectoryIndex.Device
        var managed: Bool
        var testDescription: String { name }
    }

    static let scopeCases: [ScopeCase] = {
        let t = DirectoryIndexTests()
        var linuxOff = EnforcementScope.everything
        linuxOff.platforms[.linux] = false
        let pilot = EnforcementScope(scope: .tagged, tag: "pilot")
        let takeOver = EnforcementScope(takeOver: [.linux: true])
        return [
            ScopeCase(name: "all devices", scope: .everything, device: t.device("a"), managed: true),
            ScopeCase(name: "platform switched off", scope: linuxOff, device: t.device("a"), managed: false),
            ScopeCase(name: "tagged scope, untagged device", scope: pilot, device: t.device("a"), managed: false),
            ScopeCase(name: "tagged scope, tagged device", scope: pilot, device: t.device("a", tags: ["Pilot"]), managed: true),
            ScopeCase(name: "MDM device is left alone", scope: .everything, device: t.device("a", managedBy: .mdm), managed: false),
            ScopeCase(name: "MDM device taken over", scope: takeOver, device: t.device("a", managedBy: .mdm), managed: true),
        ]
    }()

    @Test(arguments: scopeCases)
    func scope(_ testCase: ScopeCase) throws {
        var index = DirectoryIndex(scope: testCase.scope)
        index.upsert(testCase.device)
        try index.setGroup("all", .members(devices: [testCase.device.id], groups: []))
        index.setPolicy(policy("p", ["cloudService.enabled": true], include: ["all"]))
        let configuration = try #require(index.effectiveConfiguration(of: testCase.device.id))
        #expect((configuration.exclusion == nil) == testCase.managed)
        #expect(configuration.deliveredSettings.isEmpty != testCase.managed)
        if let reason = configuration.exclusion { #expect(!reason.isEmpty) }
        // Palisade leaves alone only what another channel manages and it has not taken over.
        #expect((configuration.leaveUntouched == true) == (testCase.device.managedBy != .palisade && !testCase.managed))
    }

    @Test func mergeRulesThroughTheIndex() throws {
        var index = DirectoryIndex()
        index.upsert(device("w", .windows))
        index.upsert(device("l"))
        try index.setGroup("all", .members(devices: ["w", "l"], groups: []))
        let guidA = "d4f940ab-401b-4efc-aadc-ad5f3c50688a"
        let guidB = "9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2"
        index.setPolicy(policy("asr1", ["Defender/AttackSurfaceReductionRules": .object([guidA: 1, guidB: 2])], platform: .windows, include: ["all"]))
        index.setPolicy(policy("asr2", ["Defender/AttackSurfaceReductionRules": .object([guidA: 1]), "Defender/ExcludedPaths": ["C:\\x"]], platform: .windows, include: ["all"]))
        index.setPolicy(policy("ex", ["Defender/ExcludedPaths": ["C:\\y", "C:\\x"]], platform: .windows, include: ["all"]))
        index.setPolicy(policy("lin1", ["cloudService.cloudBlockLevel": "high"], include: ["all"]))
        index.setPolicy(policy("lin2", ["cloudService.cloudBlockLevel": "normal"], include: ["all"]))
        let windows = try #require(index.effectiveConfiguration(of: "w"))
        #expect(windows.deliveredSettings["Defender/AttackSurfaceReductionRules"] == .object([guidA: 1, guidB: 2]), "keyed union")
        #expect(windows.deliveredSettings["Defender/ExcludedPaths"] == ["C:\\x", "C:\\y"], "list union")
        #expect(windows.conflicts.isEmpty)
        let linux = try #require(index.effectiveConfiguration(of: "l"))
        #expect(linux.conflicts.keys.sorted() == ["cloudService.cloudBlockLevel"], "scalar conflict")
        #expect(linux.deliveredSettings.isEmpty, "platform mismatch: Windows policies do not reach Linux")
        index.setPolicy(policy("asr3", ["Defender/AttackSurfaceReductionRules": .object([guidB: 6])], platform: .windows, include: ["all"]))
        let disputed = try #require(index.effectiveConfiguration(of: "w"))
        #expect(disputed.conflicts.keys.sorted() == ["Defender/AttackSurfaceReductionRules[\(guidB)]"], "per-key conflict")
        #expect(disputed.deliveredSettings["Defender/AttackSurfaceReductionRules"] == .object([guidA: 1]))
    }

    @Test func aDeviceAddedBeforeItsDynamicGroupIsEvaluatedWhenTheGroupAppears() throws {
        // There is no "not yet evaluated" state: membership is computed as part of every change.
        var index = DirectoryIndex()
        index.upsert(device("a", tags: ["prod"]))
        try index.setGroup("prod", .dynamic(try MembershipRuleParser.parse(#"device.tags -contains "prod""#)))
        index.setPolicy(policy("p", ["cloudService.enabled": true], include: ["prod"]))
        #expect(delivered(index, "a") == ["cloudService.enabled": true])
        // An inventory change the rule does not read leaves membership alone.
        var renamed = device("a", tags: ["prod"])
        renamed.attributes.osVersion = "Debian 13"
        index.upsert(renamed)
        #expect(delivered(index, "a") == ["cloudService.enabled": true])
    }
}

/// The whole-tenant evaluation (postings and bit sets) must agree with the per-device
/// evaluator on every device, for random rules and devices.
@Suite struct DirectoryEvaluationAgreementTests {
    @Test func postingsAndPerDeviceEvaluationAgree() throws {
        var rng = SeededGenerator(state: 0xA9_2EE)
        let names = ["web-01", "web-02", "db-1", "lab-mac", "Host-X", ""]
        let tags = ["prod", "PROD", "eu", "pilot", "x y"]
        var index = DirectoryIndex()
        var devices: [DirectoryIndex.Device] = []
        for n in 0..<300 {
            let platform = DevicePlatform.allCases.randomElement(using: &rng)!
            let device = DirectoryIndex.Device(id: "d\(n)", platform: platform, attributes: DeviceAttributes(
                platform: platform.rawValue, osVersion: ["12", "14.5", "Debian 12"].randomElement(using: &rng)!,
                name: names.randomElement(using: &rng)! + "\(n % 3)", tags: tags.filter { _ in Int.random(in: 0..<3, using: &rng) == 0 }))
            devices.append(device)
            index.upsert(device)
        }
        let texts = ["prod", "web", "WEB-0", "linux", "macos", "12", "", "lab", "x y"]
        func randomRule(_ depth: Int) -> MembershipRule {
            if depth > 2 || Bool.random(using: &rng) {
                let attribute = [DeviceAttribute.platform, .name, .tags, .osVersion].randomElement(using: &rng)!
                let op = RuleOperator.allCases.filter { $0 != .match && $0 != .notMatch }.randomElement(using: &rng)!
                let text = texts.randomElement(using: &rng)!
                return .comparison(attribute, op, op == .in || op == .notIn ? .list([text, texts.randomElement(using: &rng)!]) : .string(text))
            }
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: return .and(randomRule(depth + 1), randomRule(depth + 1))
            case 1: return .or(randomRule(depth + 1), randomRule(depth + 1))
            default: return .not(randomRule(depth + 1))
            }
        }
        for n in 0..<300 {
            let rule = randomRule(0)
            try index.setGroup("g\(n)", .dynamic(rule))
            let expected = Set(devices.filter { rule.evaluate($0.attributes) }.map(\.id))
            #expect(index.expandedMembers(of: "g\(n)") == expected, "\(rule)")
        }
        // And after devices change, incremental per-device updates keep agreeing.
        for device in devices.prefix(50) {
            var changed = device
            changed.attributes.tags = ["pilot"]
            index.upsert(changed)
        }
        let rule = try MembershipRuleParser.parse(#"device.tags -contains "pilot""#)
        try index.setGroup("pilot", .dynamic(rule))
        #expect(index.expandedMembers(of: "pilot").isSuperset(of: Set(devices.prefix(50).map(\.id))))
    }
}

@Suite struct DirectoryLoadTests {
    @Test func loadingATenantAtOnceEqualsAddingItStepByStep() throws {
        let devices = (0..<50).map { n in
            DirectoryIndex.Device(id: "d\(n)", platform: n % 2 == 0 ? .linux : .windows, attributes: DeviceAttributes(platform: n % 2 == 0 ? "linux" : "windows", name: "h\(n)", tags: n % 3 == 0 ? ["prod"] : []))
        }
        let groups: [(String, DirectoryIndex.Group)] = [
            ("outer", .members(devices: ["d1"], groups: ["inner"])),
            ("inner", .members(devices: ["d2", "d3"], groups: [])),
            ("prod", .dynamic(try MembershipRuleParser.parse(#"device.tags -contains "prod""#))),
        ]
        let policies = [
            AssignedPolicy(policy: PolicySnapshot(id: "p", name: "p", revision: 1, platform: .linux, settings: ["cloudService.enabled": true]), includeGroups: ["outer", "prod"], excludeGroups: []),
        ]
        var loaded = DirectoryIndex()
        try loaded.load(devices: devices, groups: groups, policies: policies)
        var stepped = DirectoryIndex()
        for device in devices { stepped.upsert(device) }
        for (id, group) in groups.reversed() { try stepped.setGroup(id, group) }
        for policy in policies { stepped.setPolicy(policy) }
        for device in devices {
            #expect(loaded.effectiveConfiguration(of: device.id) == stepped.effectiveConfiguration(of: device.id), "\(device.id)")
        }
        #expect(loaded.expandedMembers(of: "outer") == ["d1", "d2", "d3"])
    }
}

/// Removals, scope changes and the bookkeeping the server persists from the engine.
@Suite struct DirectoryIndexChangeTests {
    let t = DirectoryIndexTests()

    func tenant() throws -> DirectoryIndex {
        var index = DirectoryIndex()
        for (id, tags) in [("a", ["prod"]), ("b", ["prod"]), ("c", [])] { index.upsert(t.device(id, tags: tags)) }
        try index.setGroup("prod", .dynamic(try MembershipRuleParser.parse(#"device.tags -contains "prod""#)))
        try index.setGroup("pinned", .members(devices: ["c"], groups: []))
        try index.setGroup("everyone", .members(devices: [], groups: ["prod", "pinned"]))
        index.setPolicy(t.policy("p", ["cloudService.enabled": true], include: ["everyone"]))
        return index
    }

    @Test func removingAGroupTakesItsPoliciesAwayAndUnnestsIt() throws {
        var index = try tenant()
        #expect(index.removeGroup("prod") == ["a", "b"])
        #expect(index.groups(of: "a").isEmpty)
        #expect(t.delivered(index, "a").isEmpty)
        #expect(t.delivered(index, "c") == ["cloudService.enabled": true], "the other nested group still reaches c")
        #expect(index.assignedPolicy("p")?.includeGroups == ["everyone"])
        #expect(index.expandedMembers(of: "everyone") == ["c"])
    }

    @Test func removingAPolicyReportsTheDevicesItReached() throws {
        var index = try tenant()
        #expect(index.removePolicy("p") == ["a", "b", "c"])
        #expect(index.assignedPolicy("p") == nil)
        #expect(["a", "b", "c"].allSatisfy { t.delivered(index, $0).isEmpty })
        #expect(index.removePolicy("p").isEmpty, "removing twice changes nothing")
    }

    @Test func removingADeviceDropsItFromEveryGroup() throws {
        var index = try tenant()
        index.remove(device: "c")
        #expect(index.effectiveConfiguration(of: "c") == nil)
        #expect(index.expandedMembers(of: "everyone") == ["a", "b"])
        // A static group that still names it takes it back when it re-enrols.
        try index.setGroup("pinned", .members(devices: ["c"], groups: []))
        index.upsert(t.device("c"))
        #expect(index.groups(of: "c") == ["pinned", "everyone"])
    }

    @Test func aScopeChangeReachesEveryDeviceAndExcludesWithAReason() throws {
        var index = try tenant()
        var linuxOff = EnforcementScope.everything
        linuxOff.platforms[.linux] = false
        #expect(index.setScope(linuxOff) == ["a", "b", "c"])
        let excluded = try #require(index.effectiveConfiguration(of: "a"))
        #expect(excluded.deliveredSettings.isEmpty)
        #expect(excluded.exclusion?.contains("switched off for linux") == true)
        #expect(excluded.leaveUntouched == nil, "Palisade's own files are removed, nobody else's")
        index.setScope(.everything)
        #expect(t.delivered(index, "a") == ["cloudService.enabled": true])
    }

    @Test func aRetiredDeviceKeepsItsMembershipsButReceivesNothing() throws {
        var index = try tenant()
        var retired = t.device("a", tags: ["prod"])
        retired.isRetired = true
        #expect(index.upsert(retired) == ["a"], "retiring is a change even though no attribute changed")
        #expect(index.effectiveConfiguration(of: "a")?.exclusion == "retired by an administrator")
        #expect(index.groups(of: "a") == ["prod", "everyone"])
    }

    @Test func anOverridingPolicyIsMergedInsteadOfTheStoredOne() throws {
        let index = try tenant()
        let proposed = t.policy("p", ["cloudService.enabled": false], include: ["pinned"])
        #expect(index.effectiveConfiguration(of: "c", overriding: proposed)?.deliveredSettings == ["cloudService.enabled": false])
        #expect(index.effectiveConfiguration(of: "a", overriding: proposed)?.deliveredSettings == [:], "a is no longer included")
        #expect(t.delivered(index, "a") == ["cloudService.enabled": true], "the index itself is unchanged")
        #expect(index.devices(reachedBy: proposed) == ["c"])
    }

    @Test func directMembersAreTheListedOrRuleSelectedDevicesOnly() throws {
        var index = try tenant()
        #expect(index.directMembers(of: "prod") == ["a", "b"])
        #expect(index.directMemberCount(of: "prod") == 2)
        #expect(index.directMembers(of: "everyone").isEmpty, "nested groups' devices are not direct members")
        #expect(index.expandedMembers(of: "everyone") == ["a", "b", "c"])
        index.upsert(t.device("c", tags: ["prod"]))
        #expect(index.directMembers(of: "prod") == ["a", "b", "c"])
        try index.setGroup("prod", .dynamic(try MembershipRuleParser.parse(#"device.name -eq "a""#)))
        #expect(index.directMembers(of: "prod") == ["a"])
        #expect(index.directMemberCount(of: "nope") == 0)
    }

    @Test func theDirectJSONWriterProducesTheCanonicalDocument() throws {
        var index = try tenant()
        index.setPolicy(t.policy("q", ["cloudService.enabled": false, "exclusionSettings.exclusions": .array([.object(["$type": "excludedPath", "path": "/tmp/\"x\"\n"])])], include: ["prod"]))
        var mdm = EnforcementScope.everything
        mdm.platforms[.windows] = false
        index.upsert(t.device("w", .windows))
        index.upsert(t.device("m", managedBy: .mdm))
        index.setScope(mdm)
        for id in ["a", "c", "w", "m"] {
            let configuration = try #require(index.effectiveConfiguration(of: id))
            #expect(configuration.canonicalJSON == (try CanonicalJSON.string(configuration)), "\(id)")
            #expect(try CanonicalJSON.decode(EffectiveConfiguration.self, from: configuration.canonicalJSON) == configuration)
        }
        #expect(index.effectiveConfiguration(of: "a")?.conflicts.isEmpty == false, "the sample includes a conflict")
        #expect(index.effectiveConfiguration(of: "m")?.leaveUntouched == true, "and a device left alone")
    }

    @Test func batchInputsEqualPerDeviceInputs() throws {
        var index = DirectoryIndex()
        let ids = (0..<300).map { "d\($0)" }
        for (n, id) in ids.enumerated() { index.upsert(t.device(id, n % 3 == 0 ? .windows : .linux, tags: n % 4 == 0 ? ["prod"] : [])) }
        try index.setGroup("prod", .dynamic(try MembershipRuleParser.parse(#"device.tags -contains "prod""#)))
        try index.setGroup("some", .members(devices: Set(ids.prefix(120)), groups: []))
        try index.setGroup("outer", .members(devices: ["d299"], groups: ["some"]))
        try index.setGroup("blocked", .members(devices: ["d0", "d8"], groups: []))
        index.setPolicy(t.policy("p", ["cloudService.enabled": true], include: ["prod", "outer"], exclude: ["blocked"]))
        index.setPolicy(t.policy("w", ["Defender/AllowRealtimeMonitoring": 1], platform: .windows, include: ["outer"]))
        let batch = index.configurationInputs(of: ids + ["unknown"])
        #expect(batch.count == 301)
        #expect(batch.last! == nil)
        for (id, inputs) in zip(ids, batch) { #expect(inputs == index.configurationInputs(of: id), "\(id)") }
        #expect(batch[4]?.policies.map(\.id) == ["p"], "in prod and in some (nested in outer)")
        #expect(batch[4]?.policies.first?.groupIds == ["outer", "prod"])
        #expect(batch[8]?.policies.isEmpty == true, "excluded")
        let proposed = t.policy("p", ["cloudService.enabled": false], include: ["some"])
        for (id, inputs) in zip(ids, index.configurationInputs(of: ids, overriding: proposed)) {
            #expect(inputs == index.configurationInputs(of: id, overriding: proposed), "\(id) with the proposed policy")
        }
    }

    @Test func nestingProblemsAreNamedBeforeAnythingChanges() throws {
        let index = try tenant()
        #expect(index.nestingProblem(["everyone"], in: "pinned") == .cycle(["pinned", "everyone", "pinned"]))
        #expect(index.nestingProblem(["nope"], in: "pinned") == .unknownGroup("nope"))
        #expect(index.nestingProblem(["prod"], in: "pinned") == nil)
        #expect(index.devices(matching: try MembershipRuleParser.parse(#"device.tags -contains "PROD""#)) == ["a", "b"])
    }
}

import Foundation
import PalisadeCore
import Testing

/// Targeting and merge rules, table-driven over pure values.
@Suite struct MergeTests {
    let resolver = EffectiveConfigurationResolver(catalog: .standard)

    func policy(_ id: String, platform: PolicyPlatform = .linux, _ settings: [String: JSONValue]) -> PolicySnapshot {
        PolicySnapshot(id: id, name: "Policy \(id)", revision: 1, platform: platform, settings: settings)
    }

    func device(groups: Set<String>, platform: DevicePlatform = .linux) -> DeviceTargetingFacts {
        DeviceTargetingFacts(deviceId: "d", platform: platform, groupIds: groups)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var device: DeviceTargetingFacts
        var assigned: [AssignedPolicy]
        var delivered: [String: JSONValue]
        var conflicts: Set<String> = []
        var testDescription: String { name }
    }

    static var cases: [Case] {
        let t = MergeTests()
        let level = "antivirusEngine.enforcementLevel"
        let cloud = "cloudService.enabled"
        let exclusions = "antivirusEngine.exclusions"
        let tmp: JSONValue = ["$type": "excludedPath", "path": "/tmp", "isDirectory": true]
        let log: JSONValue = ["$type": "excludedFileExtension", "extension": "log"]
        return [
            Case(name: "included through a group", device: t.device(groups: ["g"]),
                 assigned: [.init(policy: t.policy("a", [level: "real_time"]), includeGroups: ["g"], excludeGroups: [])],
                 delivered: [level: "real_time"]),
            Case(name: "not in an included group", device: t.device(groups: ["other"]),
                 assigned: [.init(policy: t.policy("a", [level: "real_time"]), includeGroups: ["g"], excludeGroups: [])],
                 delivered: [:]),
            Case(name: "exclude beats include", device: t.device(groups: ["g", "x"]),
                 assigned: [.init(policy: t.policy("a", [level: "real_time"]), includeGroups: ["g"], excludeGroups: ["x"])],
                 delivered: [:]),
            Case(name: "platform mismatch", device: t.device(groups: ["g"], platform: .macos),
                 assigned: [.init(policy: t.policy("a", [level: "real_time"]), includeGroups: ["g"], excludeGroups: [])],
                 delivered: [:]),
            Case(name: "same value from two policies is no conflict", device: t.device(groups: ["g"]),
                 assigned: [.init(policy: t.policy("a", [cloud: true]), includeGroups: ["g"], excludeGroups: []),
                            .init(policy: t.policy("b", [cloud: true]), includeGroups: ["g"], excludeGroups: [])],
                 delivered: [cloud: true]),
            Case(name: "different scalars conflict, others still delivered", device: t.device(groups: ["g"]),
                 assigned: [.init(policy: t.policy("a", [level: "real_time", cloud: true]), includeGroups: ["g"], excludeGroups: []),
                            .init(policy: t.policy("b", [level: "passive"]), includeGroups: ["g"], excludeGroups: [])],
                 delivered: [cloud: true], conflicts: [level]),
            Case(name: "lists are unioned without duplicates in policy order", device: t.device(groups: ["g"]),
                 assigned: [.init(policy: t.policy("b", [exclusions: [log, tmp]]), includeGroups: ["g"], excludeGroups: []),
                            .init(policy: t.policy("a", [exclusions: [tmp]]), includeGroups: ["g"], excludeGroups: [])],
                 delivered: [exclusions: [tmp, log]]),
        ]
    }

    @Test(arguments: cases)
    func merge(_ testCase: Case) {
        let configuration = resolver.resolve(for: testCase.device, among: testCase.assigned)
        #expect(configuration.deliveredSettings == testCase.delivered)
        #expect(Set(configuration.conflicts.keys) == testCase.conflicts)
    }

    @Test func conflictNamesEveryCompetingPolicyAndValue() {
        let configuration = resolver.resolve(for: device(groups: ["g"]), among: [
            .init(policy: policy("a", ["cloudService.cloudBlockLevel": "high"]), includeGroups: ["g"], excludeGroups: []),
            .init(policy: policy("b", ["cloudService.cloudBlockLevel": "normal"]), includeGroups: ["g"], excludeGroups: []),
            .init(policy: policy("c", ["cloudService.cloudBlockLevel": "high"]), includeGroups: ["g"], excludeGroups: []),
        ])
        let competing = configuration.conflicts["cloudService.cloudBlockLevel"] ?? []
        #expect(competing.map(\.value) == ["high", "normal"])
        #expect(competing[0].policies.map(\.id) == ["a", "c"])
        #expect(competing[1].policies.map(\.id) == ["b"])
        let statuses = StatusEvaluator.settingStatuses(of: configuration, report: .none)
        #expect(statuses.first?.state == .conflict)
        #expect(statuses.first?.detail?.contains("\"normal\" from \"Policy b\"") == true)
    }

    @Test func hashDependsOnContentNotOnOrder() {
        let one = DeviceConfiguration(platform: .linux, settings: ["a": 1, "b": ["x": true, "y": "z"]])
        let two = DeviceConfiguration(platform: .linux, settings: ["b": ["y": "z", "x": true], "a": 1])
        #expect(one.hash == two.hash)
        #expect(one.hash != DeviceConfiguration(platform: .linux, settings: ["a": 2]).hash)
        #expect(one.hash.hasPrefix("sha256:") && one.hash.count == 71)
    }

    @Test func policyStateOrdersConflictThenErrorThenPending() {
        let configuration = resolver.resolve(for: device(groups: ["g"]), among: [
            .init(policy: policy("a", ["cloudService.enabled": true, "antivirusEngine.scanArchives": true]), includeGroups: ["g"], excludeGroups: []),
        ])
        let hash = configuration.deviceConfiguration.hash
        #expect(StatusEvaluator.policyState(policyId: "a", configuration: configuration, report: .none) == .pending)
        let ok = DeviceReport(configurationHash: hash, results: [
            "cloudService.enabled": .init(settingId: "cloudService.enabled", state: .succeeded),
            "antivirusEngine.scanArchives": .init(settingId: "antivirusEngine.scanArchives", state: .succeeded),
        ])
        #expect(StatusEvaluator.policyState(policyId: "a", configuration: configuration, report: ok) == .succeeded)
        var failed = ok
        failed.results["antivirusEngine.scanArchives"] = .init(settingId: "antivirusEngine.scanArchives", state: .error, detail: "disk full")
        #expect(StatusEvaluator.policyState(policyId: "a", configuration: configuration, report: failed) == .error)
        let stale = DeviceReport(configurationHash: "sha256:old", results: ok.results)
        #expect(StatusEvaluator.policyState(policyId: "a", configuration: configuration, report: stale) == .pending)
    }

    /// The stored states (`outcome`) agree with `policyState` for every policy, and explain
    /// errors and conflicts.
    @Test func outcomeAgreesWithPolicyStateAndGivesReasons() {
        let configuration = resolver.resolve(for: device(groups: ["g"]), among: [
            .init(policy: policy("a", ["cloudService.enabled": true, "cloudService.cloudBlockLevel": "high"]), includeGroups: ["g"], excludeGroups: []),
            .init(policy: policy("b", ["cloudService.cloudBlockLevel": "normal"]), includeGroups: ["g"], excludeGroups: []),
            .init(policy: policy("c", ["antivirusEngine.scanArchives": true]), includeGroups: ["g"], excludeGroups: []),
        ])
        let hash = configuration.deviceConfiguration.hash
        let report = DeviceReport(configurationHash: hash, results: [
            "cloudService.enabled": .init(settingId: "cloudService.enabled", state: .succeeded),
            "antivirusEngine.scanArchives": .init(settingId: "antivirusEngine.scanArchives", state: .error, detail: "disk full"),
        ])
        for candidate in [report, .none, DeviceReport(configurationHash: "sha256:old", results: report.results)] {
            let outcome = StatusEvaluator.outcome(of: configuration, report: candidate)
            for id in ["a", "b", "c"] {
                #expect(outcome.policies[id]?.state == StatusEvaluator.policyState(policyId: id, configuration: configuration, report: candidate))
            }
            #expect(outcome.state == .conflict, "conflict wins over everything")
        }
        let outcome = StatusEvaluator.outcome(of: configuration, report: report)
        #expect(outcome.policies["a"]?.reason == "cloudService.cloudBlockLevel: conflict with policy \"Policy b\"")
        #expect(outcome.policies["c"]?.reason == "antivirusEngine.scanArchives: disk full")
        #expect(outcome.policies["a"]?.settings == ["cloudService.enabled": .succeeded, "cloudService.cloudBlockLevel": .conflict])
        #expect(outcome.policies["c"]?.settings == ["antivirusEngine.scanArchives": .error])
        let excluded = EffectiveConfiguration(platform: .linux, exclusion: "retired by an administrator")
        #expect(StatusEvaluator.outcome(of: excluded, report: .none).state == .notApplicable)
        #expect(StatusEvaluator.outcome(of: EffectiveConfiguration(platform: .linux), report: .none).state == .pending)
    }
}

@Suite struct CanonicalJSONTests {
    @Test func canonicalBytesAreValidJSONThatDecodesToTheSameValue() throws {
        var rng = SeededGenerator(state: 0xC0DE)
        for definition in SettingCatalog.standard.definitions {
            let value = SampleValues.valid(definition.type, &rng)
            let document: JSONValue = ["k\n\"\\": value, "a": [.null, 1.5 == 1.5 ? .number(1.5) : .null, "\u{01}é"]]
            let bytes = CanonicalJSON.bytes(document)
            #expect(try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) == document)
            #expect(CanonicalJSON.bytes(document) == bytes)
        }
        #expect(String(decoding: CanonicalJSON.bytes(["b": 1, "a": [true, "x"]]), as: UTF8.self) == #"{"a":[true,"x"],"b":1}"#)
    }
}

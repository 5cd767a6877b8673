import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// The foundation's end-to-end path for a macOS agent (managed plist) and a Windows agent
/// (registry values, here in the file-backed stand-in registry under the test root: the real
/// Windows registry cannot exist on this machine).
@Suite struct CrossPlatformEndToEndTests {
    @Test(arguments: StoreEngine.available)
    func macOSAgentWritesManagedPreferences(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let mac = try await TestAgent.enroll(server, name: "mac-01", token: token, platform: .macos)
            let other = try await TestAgent.enroll(server, name: "mac-02", token: token, platform: .macos)
            let group = try await server.createGroup("macs", members: [mac.deviceId])
            let policy = try await server.createPolicy("Mac AV", platform: "macos", settings: [
                "antivirusEngine.enforcementLevel": "real_time",
                "antivirusEngine.scanArchives": true,
                "cloudService.cloudBlockLevel": "high",
                "scheduledScan.dailyConfiguration.timeOfDay": 120,
            ])
            try await server.assign(policy, include: [group])
            try await mac.sync()
            try await other.sync()

            let plistPath = mac.root + "/" + MacOSPlistRenderer.relativePath
            let data = try Data(contentsOf: URL(fileURLWithPath: plistPath))
            let plist = try #require(try PropertyListSerialization.propertyList(from: data, format: nil) as? [String: Any])
            let engine = try #require(plist["antivirusEngine"] as? [String: Any])
            #expect(engine["enforcementLevel"] as? String == "real_time")
            #expect(engine["scanArchives"] as? Bool == true)
            #expect((plist["scheduledScan"] as? [String: Any])?["dailyConfiguration"].flatMap { ($0 as? [String: Any])?["timeOfDay"] as? Int } == 120)
            #expect(!FileManager.default.fileExists(atPath: other.root + "/" + MacOSPlistRenderer.relativePath))
            try ArtifactStore.keep(data, label: "macos-baseline", extension: "plist")

            let report = try await server.report(policy)
            #expect(report["summary"]?.objectValue?["succeeded"] == 1)

            try await server.assign(policy, include: [])
            try await mac.sync()
            #expect(!FileManager.default.fileExists(atPath: plistPath), "unassigning removes the managed preferences")
        }
    }

    @Test(arguments: StoreEngine.available)
    func windowsAgentWritesRegistryValuesAndLeavesOthersAlone(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let windows = try await TestAgent.enroll(server, name: "win-01", token: token, platform: .windows)
            let registry = FileBackedRegistry(root: EnforcementRoot(windows.root))
            // A value some other tool set: Palisade must never touch it.
            let foreign = RegistryValue(key: "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Real-Time Protection", name: "LocalSetting", data: .dword(7))
            try registry.apply([.set(foreign)])

            let group = try await server.createGroup("windows", members: [windows.deviceId])
            let asrA = "d4f940ab-401b-4efc-aadc-ad5f3c50688a"
            let asrB = "9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2"
            let av = try await server.createPolicy("Win AV", platform: "windows", settings: [
                "Defender/AllowRealtimeMonitoring": false,
                "Defender/CloudBlockLevel": 2,
            ])
            let exclusions = try await server.createPolicy("Win exclusions", template: "antivirusExclusions", platform: "windows", settings: [
                "Defender/ExcludedPaths": ["C:\\Data", "D:\\Scratch"],
            ])
            let asr1 = try await server.createPolicy("ASR 1", template: "attackSurfaceReduction", platform: "windows", settings: [
                "Defender/AttackSurfaceReductionRules": .object([asrA: 1, asrB: 2]),
            ])
            let asr2 = try await server.createPolicy("ASR 2", template: "attackSurfaceReduction", platform: "windows", settings: [
                "Defender/AttackSurfaceReductionRules": .object([asrA: 1, asrB: 1]),
            ])
            let firewall = try await server.createPolicy("Firewall", template: "firewallRules", platform: "windows", settings: [
                "Firewall/MdmStore/FirewallRules": [["name": "Block SMB", "direction": "in", "action": "block", "protocol": 6, "localPorts": "445"]],
            ])
            for policy in [av, exclusions, asr1, asr2, firewall] { try await server.assign(policy, include: [group]) }
            try await windows.sync()

            let values = Dictionary(uniqueKeysWithValues: try registry.readAll().map { ("\($0.location.key)\\\($0.location.name)", $0.data) })
            let defender = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender"
            #expect(values["\(defender)\\Real-Time Protection\\DisableRealtimeMonitoring"] == .dword(1), "CSP Allow=false lands as Disable=1")
            #expect(values["\(defender)\\MpEngine\\MpCloudBlockLevel"] == .dword(2))
            #expect(values["\(defender)\\Exclusions\\Paths\\C:\\Data"] == .string("0"))
            #expect(values["\(defender)\\Exclusions\\Exclusions_Paths"] == .dword(1), "the list is switched on")
            #expect(values["\(defender)\\Windows Defender Exploit Guard\\ASR\\Rules\\\(asrA)"] == .string("1"), "the agreed ASR rule is delivered")
            #expect(values["\(defender)\\Windows Defender Exploit Guard\\ASR\\Rules\\\(asrB)"] == nil, "the disputed ASR rule is withheld")
            #expect(values["HKLM\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\FirewallRules\\Block SMB"] == .string("v2.30|Action=Block|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name=Block SMB|"))
            #expect(values["\(foreign.location.key)\\LocalSetting"] == .dword(7))

            let settings = try await server.api(.GET, "/api/v1/devices/\(windows.deviceId)/settings")
            let conflict = settings.body.arrayValue?.first { $0.objectValue?["settingId"]?.stringValue == "Defender/AttackSurfaceReductionRules[\(asrB)]" }
            #expect(conflict?.objectValue?["state"] == "conflict")

            // Unassign everything: every managed value goes, the foreign one stays.
            for policy in [av, exclusions, asr1, asr2, firewall] { try await server.assign(policy, include: []) }
            try await windows.sync()
            #expect(try registry.readAll() == [foreign])
        }
    }
}

/// Files the Python contract checks read after the Swift tests (PALISADE_ARTIFACTS_DIR).
enum ArtifactStore {
    static func keep(_ data: Data, label: String, extension ext: String) throws {
        guard let directory = ProcessInfo.processInfo.environment["PALISADE_ARTIFACTS_DIR"] else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: directory + "/\(label)-\(UUID().uuidString.prefix(8)).\(ext)"))
    }
}

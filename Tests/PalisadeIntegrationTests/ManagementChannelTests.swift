import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// A device whose Defender settings another channel manages gets nothing written, says why,
/// and is managed by Palisade only once the tenant chooses to take over.
@Suite struct ManagementChannelTests {
    @Test(arguments: StoreEngine.available)
    func anotherChannelsFileIsLeftAloneUntilTheTenantTakesOver(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            // Some other tool wrote the managed file before Palisade arrived.
            let root = server.directory + "/agents/legacy-01/root"
            let managedFile = root + "/" + LinuxManagedJSONRenderer.relativePath
            try FileManager.default.createDirectory(atPath: (managedFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let foreign = #"{"antivirusEngine":{"enforcementLevel":"passive"}}"#
            try foreign.write(toFile: managedFile, atomically: true, encoding: .utf8)

            let legacy = try await TestAgent.enroll(server, name: "legacy-01", token: token)
            let record = try await server.api(.GET, "/api/v1/devices/\(legacy.deviceId)")
            #expect(record["managedBy"] == "other")
            #expect(record["management"]?.objectValue?["state"] == "excluded")
            #expect(record["management"]?.objectValue?["reason"]?.stringValue?.contains("another channel") == true)

            let group = try await server.createGroup("all", members: [legacy.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["antivirusEngine.enforcementLevel": "real_time"])
            try await server.assign(policy, include: [group])
            guard case .applied(let report) = try await legacy.sync() else {
                Issue.record("expected a configuration")
                return
            }
            #expect(report.results.isEmpty)
            #expect(report.detail?.contains("another channel") == true)
            #expect(try String(contentsOfFile: managedFile, encoding: .utf8) == foreign, "nothing written, nothing removed")
            try await legacy.sync()
            #expect(try String(contentsOfFile: managedFile, encoding: .utf8) == foreign, "and no drift repair either")

            // The tenant takes over Linux devices: Palisade now manages the file.
            _ = try await server.must(.PUT, "/api/v1/settings/enforcement", ["platforms": ["linux": true], "scope": "all", "takeOver": ["linux": true]])
            try await legacy.sync()
            #expect(try legacy.managedValue("antivirusEngine.enforcementLevel") == "real_time")
            #expect(try await server.report(policy)["summary"]?.objectValue?["succeeded"] == 1)
        }
    }

    @Test func windowsPolicyFromAnMDMIsDetected() throws {
        let root = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let probe = DeviceInventoryProbe(root: EnforcementRoot(root), platform: .windows, hostname: "win", hardwareId: "hw")
        #expect(try probe.inventory().defenderManagedElsewhere == false)
        try FileBackedRegistry(root: EnforcementRoot(root)).apply([.set(RegistryValue(key: DeviceInventoryProbe.mdmDefenderPolicyKey, name: "AllowRealtimeMonitoring", data: .dword(1)))])
        #expect(try probe.inventory().defenderManagedElsewhere == true)
    }
}

import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// The tenant's enforcement scope and stale devices, through the API and the real agent.
@Suite struct EnforcementScopeTests {
    @Test(arguments: StoreEngine.available)
    func devicesOutOfScopeGetNothingAndSayWhy(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let pilot = try await TestAgent.enroll(server, name: "pilot-01", token: token)
            // An agent claiming the pilot tag is not in the pilot: only admin tags decide scope.
            let other = try await TestAgent.enroll(server, name: "web-02", token: token, tags: ["pilot"])
            _ = try await server.must(.PATCH, "/api/v1/devices/\(pilot.deviceId)", ["tags": ["pilot"]])
            let group = try await server.createGroup("all", members: [pilot.deviceId, other.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group])

            let initial = try await server.api(.GET, "/api/v1/settings/enforcement")
            #expect(initial["scope"] == "all")
            #expect(initial["platforms"]?.objectValue?["linux"] == true)

            // A pilot: only devices tagged "pilot".
            let put = try await server.api(.PUT, "/api/v1/settings/enforcement", ["platforms": ["linux": true, "macos": true, "windows": true, "windowsServer": true], "scope": "tagged", "tag": "pilot"])
            #expect(put.status == 200)
            for agent in [pilot, other] { try await agent.sync() }
            #expect(try pilot.managedValue("cloudService.enabled") == true)
            #expect(try other.managedFile() == nil)
            let record = try await server.api(.GET, "/api/v1/devices/\(other.deviceId)")
            #expect(record["management"]?.objectValue?["state"] == "excluded")
            #expect(record["management"]?.objectValue?["reason"]?.stringValue?.contains("tagged \"pilot\"") == true)

            // Linux switched off: nothing for anyone, and the pilot's file goes.
            _ = try await server.must(.PUT, "/api/v1/settings/enforcement", ["platforms": ["linux": false], "scope": "all"])
            try await pilot.sync()
            #expect(try pilot.managedFile() == nil)
            let off = try await server.api(.GET, "/api/v1/devices/\(pilot.deviceId)")
            #expect(off["management"]?.objectValue?["reason"]?.stringValue?.contains("switched off for linux") == true)

            let bad = try await server.api(.PUT, "/api/v1/settings/enforcement", ["platforms": ["beos": true], "scope": "all"])
            #expect(bad.status == 400)
            #expect(bad.errorMessage?.contains("platforms.beos") == true)
            let noTag = try await server.api(.PUT, "/api/v1/settings/enforcement", ["platforms": ["linux": true], "scope": "tagged"])
            #expect(noTag.status == 400)
        }
    }

    @Test(arguments: StoreEngine.available)
    func staleDevicesAreFlaggedNotRemoved(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, group, policy) = try await TestAgent.enrolledWithPolicy(server, name: "old-01", settings: ["cloudService.enabled": true])
            try await agent.sync()
            #expect(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["stale"] == false)

            // Not seen for 40 days, with a 30-day threshold.
            let longAgo = Int64(Date().addingTimeInterval(-40 * 86_400).timeIntervalSince1970 * 1000)
            try await server.store.backend.write(lockKey: "test") { sql in
                try await sql.raw("UPDATE devices SET last_check_in_at = \(bind: longAgo)").run()
            }
            #expect(try await server.api(.GET, "/api/v1/settings/devices")["staleAfterDays"] == 30)
            #expect(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["stale"] == true)
            let report = try await server.report(policy)
            #expect(report["devices"]?.arrayValue?.first?.objectValue?["stale"] == true)
            #expect(try await server.api(.GET, "/api/v1/groups/\(group)")["memberCount"] == 1, "memberships are kept")

            _ = try await server.must(.PUT, "/api/v1/settings/devices", ["staleAfterDays": 60])
            #expect(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["stale"] == false)
            #expect(try await server.api(.PUT, "/api/v1/settings/devices", ["staleAfterDays": 0]).status == 400)
        }
    }
}

import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// `palisade directory rebuild`: derived data (dynamic memberships, configurations) that was
/// lost or altered outside Palisade is re-derived, and a running server follows.
@Suite struct DirectoryRebuildTests {
    @Test(arguments: StoreEngine.available)
    func rebuildRestoresMembershipsAndConfigurationsChangedBehindTheServersBack(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let prod = try await TestAgent.enroll(server, name: "web-01", token: token, tags: ["prod"])
            let other = try await TestAgent.enroll(server, name: "web-02", token: token)
            let group = try #require(try await server.must(.POST, "/api/v1/groups", ["name": "prod", "membershipRule": #"device.tags -contains "prod""#]).objectValue?["id"]?.stringValue)
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            let tenant = try #require(try await server.store.tenants().first?.id)
            #expect(try await server.store.directoryDrift(tenant: tenant) == [])

            // Behind the server's back: a membership row disappears, a configuration is altered.
            try await server.sql { sql in
                try await sql.raw("DELETE FROM group_members WHERE group_id = \(bind: group)").run()
                try await sql.raw("UPDATE device_configurations SET effective = '{}' WHERE device_id = \(bind: other.deviceId)").run()
            }
            #expect(try await server.api(.GET, "/api/v1/groups/\(group)")["memberCount"] == 0)
            #expect(try await server.store.directoryDrift(tenant: tenant) == [other.deviceId])

            let rebuild = try await server.store.rebuildDirectory(tenant: tenant)
            #expect(rebuild.devices == 2)
            #expect(try await server.store.directoryDrift(tenant: tenant) == [])
            #expect(try await server.api(.GET, "/api/v1/groups/\(group)")["memberCount"] == 1)

            // The server's own directory follows: the next change works from the rebuilt state.
            _ = try await server.must(.PATCH, "/api/v1/devices/\(other.deviceId)", ["tags": ["prod"]])
            try await other.sync()
            #expect(try other.managedValue("cloudService.enabled") == true)
            try await prod.sync()
            #expect(try prod.managedValue("cloudService.enabled") == true)
            #expect(try await server.api(.GET, "/api/v1/groups/\(group)")["memberCount"] == 2)
        }
    }
}

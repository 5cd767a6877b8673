import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// `palisade directory rebuild`: data changed behind the server's back (a restore, an import,
/// a hand edit) is re-derived into configurations, and a running server follows.
@Suite struct DirectoryRebuildTests {
    @Test(arguments: StoreEngine.available)
    func rebuildRederivesConfigurationsFromDataChangedBehindTheServersBack(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let prod = try await TestAgent.enroll(server, name: "web-01", token: token, tags: ["prod"])
            let other = try await TestAgent.enroll(server, name: "web-02", token: token)
            let group = try #require(try await server.must(.POST, "/api/v1/groups", ["name": "prod", "membershipRule": #"device.agentTags -contains "prod" -or device.tags -contains "prod""#]).objectValue?["id"]?.stringValue)
            let pinned = try await server.createGroup("pinned", members: [other.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group, pinned])
            let tenant = try #require(try await server.store.tenants().first?.id)
            #expect(try await server.store.directory.drift(tenant: tenant) == [])

            // Behind the server's back: a static membership disappears, a configuration is altered.
            try await server.sql { sql in
                try await sql.raw("DELETE FROM group_members WHERE group_id = \(bind: pinned)").run()
                try await sql.raw("UPDATE device_configurations SET effective = '{}' WHERE device_id = \(bind: prod.deviceId)").run()
            }
            #expect(try await server.store.directory.drift(tenant: tenant).sorted() == [prod.deviceId, other.deviceId].sorted())

            let rebuild = try await server.store.directory.rebuild(tenant: tenant)
            #expect(rebuild.devices == 2)
            #expect(try await server.store.directory.drift(tenant: tenant) == [])
            #expect(try await server.api(.GET, "/api/v1/groups/\(pinned)")["memberCount"] == 0, "the running server's directory was reloaded")
            try await other.sync()
            #expect(try other.managedFile() == nil, "the membership is gone, and so is what it brought")

            // The server's own directory follows: the next change works from the rebuilt state.
            _ = try await server.must(.PATCH, "/api/v1/devices/\(other.deviceId)", ["tags": ["prod"]])
            try await other.sync()
            #expect(try other.managedValue("cloudService.enabled") == true)
            try await prod.sync()
            #expect(try prod.managedValue("cloudService.enabled") == true)
            #expect(try await server.api(.GET, "/api/v1/groups/\(group)")["memberCount"] == 2)
            #expect(try await server.store.directory.drift(tenant: tenant) == [])
        }
    }
}

import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

@Suite struct NestedGroupTests {
    @Test(arguments: StoreEngine.available)
    func nestedGroupsBringTheirDevicesAndCyclesAreRefused(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let web = try await TestAgent.enroll(server, name: "web-01", token: token)
            let db = try await TestAgent.enroll(server, name: "db-01", token: token, tags: ["db"])
            let webGroup = try await server.createGroup("web", members: [web.deviceId])
            let dbGroup = try #require(try await server.must(.POST, "/api/v1/groups", ["name": "db", "membershipRule": #"device.agentTags -contains "db""#]).objectValue?["id"]?.stringValue)
            let servers = try #require(try await server.must(.POST, "/api/v1/groups", ["name": "servers", "groups": [.string(webGroup)]]).objectValue?["id"]?.stringValue)
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            let quarantine = try await server.createGroup("quarantine", members: [])
            try await server.assign(policy, include: [servers], exclude: [quarantine])
            for agent in [web, db] { try await agent.sync() }
            #expect(try web.managedValue("cloudService.enabled") == true, "through the nested group")
            #expect(try db.managedFile() == nil)

            // Nest the dynamic group too: its devices follow.
            let added = try await server.must(.POST, "/api/v1/groups/\(servers)/members", ["groupIds": [.string(dbGroup)]])
            let nested = Set(added.objectValue?["nestedGroups"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(nested == [webGroup, dbGroup])
            try await db.sync()
            #expect(try db.managedValue("cloudService.enabled") == true)
            let provenance = try await server.api(.GET, "/api/v1/devices/\(db.deviceId)/effective")
            let via = Set(provenance["settings"]?.arrayValue?.first?.objectValue?["policies"]?.arrayValue?.first?.objectValue?["groupIds"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(via == [servers], "provenance names the assigned group the device reaches it through")

            // Exclusion through nesting wins as well.
            _ = try await server.must(.POST, "/api/v1/groups/\(quarantine)/members", ["groupIds": [.string(webGroup)]])
            try await web.sync()
            #expect(try web.managedFile() == nil, "exclude wins, also through a nested group")

            let cycle = try await server.api(.POST, "/api/v1/groups/\(webGroup)/members", ["groupIds": [.string(servers)]])
            #expect(cycle.status == 400)
            #expect(cycle.errorCode == "group_cycle")
            #expect(cycle.errorMessage?.contains("\(webGroup) contains \(servers) contains \(webGroup)") == true, "the message names the loop: \(cycle.errorMessage ?? "")")
            let selfNest = try await server.api(.POST, "/api/v1/groups/\(servers)/members", ["groupIds": [.string(servers)]])
            #expect(selfNest.errorCode == "group_cycle")
            let unknown = try await server.api(.POST, "/api/v1/groups/\(servers)/members", ["groupIds": ["nope"]])
            #expect(unknown.errorCode == "unknown_group")

            // Un-nesting removes what the nested group brought.
            #expect(try await server.api(.DELETE, "/api/v1/groups/\(servers)/members/\(dbGroup)").status == 204)
            try await db.sync()
            #expect(try db.managedFile() == nil)

            // Deleting the excluding group gives web its settings back.
            #expect(try await server.api(.DELETE, "/api/v1/groups/\(quarantine)").status == 204)
            try await web.sync()
            #expect(try web.managedValue("cloudService.enabled") == true)
            // The refused requests above left nothing half-applied in the in-memory directory.
            let tenant = try #require(try await server.store.tenants().first?.id)
            #expect(try await server.store.directory.drift(tenant: tenant) == [])
        }
    }
}

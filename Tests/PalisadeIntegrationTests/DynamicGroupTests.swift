import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// Dynamic groups in the server: rules over device attributes, admin and agent tags, previews,
/// memberships that follow changes at once, and provenance.
@Suite struct DynamicGroupTests {
    @Test(arguments: StoreEngine.available)
    func membershipFollowsTagsAndReachesTheAgents(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let tagged = try await TestAgent.enroll(server, name: "web-01", token: token, tags: ["prod"])
            let plain = try await TestAgent.enroll(server, name: "web-02", token: token)
            let mac = try await TestAgent.enroll(server, name: "mac-01", token: token, platform: .macos)

            // Agent-reported tags are their own attribute; admin tags are device.tags.
            let rule = #"device.platform -eq "linux" -and (device.agentTags -contains "prod" -or device.tags -contains "prod")"#
            let preview = try await server.api(.POST, "/api/v1/groups/preview", ["membershipRule": .string(rule)])
            #expect(preview["count"] == 1)
            #expect(preview["sample"]?.arrayValue?.first?.objectValue?["id"]?.stringValue == tagged.deviceId)
            #expect(try await server.count("device_groups") == 0, "a preview saves nothing")

            let group = try #require(try await server.must(.POST, "/api/v1/groups", ["name": "prod linux", "membershipRule": .string(rule)]).objectValue)
            let groupId = try #require(group["id"]?.stringValue)
            #expect(group["memberCount"] == 1)
            #expect(group["membershipRule"] == .string(rule))
            let policy = try await server.createPolicy("Prod AV", settings: ["antivirusEngine.enforcementLevel": "real_time"])
            try await server.assign(policy, include: [groupId])
            for agent in [tagged, plain, mac] { try await agent.sync() }
            #expect(try tagged.managedValue("antivirusEngine.enforcementLevel") == "real_time", "the agent-reported tag counts where the rule reads it")
            let adminOnly = try await server.api(.POST, "/api/v1/groups/preview", ["membershipRule": #"device.tags -contains "prod""#])
            #expect(adminOnly["count"] == 0, "device.tags is what admins set, not what agents claim")
            #expect(try plain.managedFile() == nil)

            // An admin tag brings the second device in at once; removing it takes it out.
            let patched = try await server.api(.PATCH, "/api/v1/devices/\(plain.deviceId)", ["tags": ["Prod"]])
            #expect(patched.status == 200)
            #expect(patched["tags"] == ["Prod"])
            #expect(patched["agentTags"] == [])
            try await plain.sync()
            #expect(try plain.managedValue("antivirusEngine.enforcementLevel") == "real_time")
            let provenance = try await server.api(.GET, "/api/v1/devices/\(plain.deviceId)/effective")
            let setting = provenance["settings"]?.arrayValue?.first?.objectValue
            #expect(setting?["settingId"] == "antivirusEngine.enforcementLevel")
            #expect(setting?["policies"]?.arrayValue?.first?.objectValue?["groupIds"] == [.string(groupId)])

            _ = try await server.must(.PATCH, "/api/v1/devices/\(plain.deviceId)", ["tags": []])
            try await plain.sync()
            #expect(try plain.managedFile() == nil, "leaving the group removes its settings")

            // A rule change re-evaluates the group: now every Linux device is in.
            let changedRule = try await server.api(.PUT, "/api/v1/groups/\(groupId)", ["membershipRule": #"device.platform -eq "linux""#])
            #expect(changedRule.status == 200)
            #expect(changedRule["memberCount"] == 2)
            // Listing pages through the rule-selected members in id order.
            let firstPage = try await server.api(.GET, "/api/v1/groups/\(groupId)/members?limit=1")
            let cursor = try #require(firstPage["nextCursor"]?.stringValue)
            let secondPage = try await server.api(.GET, "/api/v1/groups/\(groupId)/members?limit=1&cursor=\(cursor)")
            let listed = [firstPage, secondPage].flatMap { $0["devices"]?.arrayValue ?? [] }.compactMap { $0.objectValue?["id"]?.stringValue }
            #expect(listed == [tagged.deviceId, plain.deviceId].sorted())
            #expect(secondPage["nextCursor"] == nil || secondPage["nextCursor"] == .null)
            try await plain.sync()
            #expect(try plain.managedValue("antivirusEngine.enforcementLevel") == "real_time")
            let badRule = try await server.api(.PUT, "/api/v1/groups/\(groupId)", ["membershipRule": "device.platform -eq"])
            #expect(badRule.errorCode == "invalid_rule")

            // Membership of a dynamic group is the rule's, not the admin's.
            let manual = try await server.api(.POST, "/api/v1/groups/\(groupId)/members", ["deviceIds": [.string(mac.deviceId)]])
            #expect(manual.status == 400)
            #expect(manual.errorCode == "dynamic_group")
            let tenant = try #require(try await server.store.tenants().first?.id)
            #expect(try await server.store.directory.drift(tenant: tenant) == [])
        }
    }

    /// Rules read `lastCheckInAt` as a UTC day; the first check-in of a day re-evaluates the
    /// device. The test's clock starts a minute before midnight UTC and crosses it.
    @Test(arguments: StoreEngine.available)
    func lastCheckInDayRulesFollowCheckIns(engine: StoreEngine) async throws {
        let clock = ManualClock(try Date("2026-03-01T23:59:00Z", strategy: .iso8601))
        try await TestServer.with(engine, clock: clock) { server in
            let token = try await server.createEnrollmentToken()
            let agent = try await TestAgent.enroll(server, name: "web-01", token: token)
            let group = try #require(try await server.must(.POST, "/api/v1/groups", ["name": "seen on the 2nd", "membershipRule": #"device.lastCheckInAt -eq "2026-03-02""#]).objectValue)
            let groupId = try #require(group["id"]?.stringValue)
            #expect(group["memberCount"] == 0, "enrolled, never checked in")
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [groupId])
            try await agent.sync()
            #expect(try await server.api(.GET, "/api/v1/groups/\(groupId)")["memberCount"] == 0, "checked in on the 1st")
            #expect(try agent.managedValue("cloudService.enabled") == nil)

            clock.advance(by: 120)
            try await agent.sync()
            #expect(try await server.api(.GET, "/api/v1/groups/\(groupId)")["memberCount"] == 1, "the first check-in of the 2nd made it a member")
            try await agent.sync()
            #expect(try agent.managedValue("cloudService.enabled") == true, "the next check-in delivers")

            clock.advance(by: 86_400)
            try await agent.sync()
            #expect(try await server.api(.GET, "/api/v1/groups/\(groupId)")["memberCount"] == 0, "on the 3rd it leaves")
            try await agent.sync()
            #expect(try agent.managedValue("cloudService.enabled") == nil, "and loses what the group brought")
        }
    }

    @Test(arguments: StoreEngine.available)
    func badRulesAndTagsAreRefusedWithWhereAndWhat(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let bad = try await server.api(.POST, "/api/v1/groups", ["name": "g", "membershipRule": #"device.platform -equals "linux""#])
            #expect(bad.status == 400)
            #expect(bad.errorCode == "invalid_rule")
            #expect(bad.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["position"] == 16)
            #expect(bad.errorMessage?.contains("a comparison operator") == true)
            let preview = try await server.api(.POST, "/api/v1/groups/preview", ["membershipRule": "device.nope -eq 1"])
            #expect(preview.errorCode == "invalid_rule")
            let both = try await server.api(.POST, "/api/v1/groups", ["name": "g", "membershipRule": #"device.name -eq "x""#, "members": ["a"]])
            #expect(both.status == 400)
            #expect(try await server.count("device_groups") == 0)

            let token = try await server.createEnrollmentToken()
            let agent = try await TestAgent.enroll(server, name: "web-01", token: token)
            let emptyTag = try await server.api(.PATCH, "/api/v1/devices/\(agent.deviceId)", ["tags": ["  "]])
            #expect(emptyTag.status == 400)
            #expect(emptyTag.errorMessage?.contains("tags[0]") == true)
        }
    }
}

import Foundation
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// Policy revisions: history, one revision, diffs, rollback and its preview.
@Suite struct PolicyRevisionTests {
    @Test(arguments: StoreEngine.available)
    func revisionsListReadAndDiff(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true, "cloudService.cloudBlockLevel": "high"])
            try await server.must(.PUT, "/api/v1/policies/\(policy)", [
                "name": "AV prod", "description": "for production", "platform": "linux", "template": "antivirus",
                "settings": ["cloudService.enabled": false, "antivirusEngine.enforcementLevel": "real_time"],
            ])

            let list = try await server.api(.GET, "/api/v1/policies/\(policy)/revisions")
            #expect(list.status == 200)
            let revisions = try #require(list["revisions"]?.arrayValue)
            #expect(revisions.map { $0.objectValue?["revision"] } == [2, 1], "newest first")
            #expect(revisions[0].objectValue?["name"] == "AV prod")
            #expect(revisions[1].objectValue?["settingCount"] == 2)
            #expect(revisions[0].objectValue?["createdBy"]?.objectValue?["type"] == "apiToken", "the audit log names who made it")
            #expect(list["nextCursor"] == nil)

            // Paging, one at a time.
            let first = try await server.api(.GET, "/api/v1/policies/\(policy)/revisions?limit=1")
            #expect(first["revisions"]?.arrayValue?.count == 1)
            let cursor = try #require(first["nextCursor"]?.stringValue)
            let second = try await server.api(.GET, "/api/v1/policies/\(policy)/revisions?limit=1&cursor=\(cursor)")
            #expect(second["revisions"]?.arrayValue?.first?.objectValue?["revision"] == 1)
            #expect(second["nextCursor"] == nil)
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions?cursor=x").status == 400)

            let one = try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/1")
            #expect(one.status == 200)
            #expect(one["name"] == "AV")
            #expect(one["settings"] == ["cloudService.enabled": true, "cloudService.cloudBlockLevel": "high"])

            let diff = try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/2/diff?against=1")
            #expect(diff.status == 200)
            #expect(diff["added"] == [["settingId": "antivirusEngine.enforcementLevel", "value": "real_time"]])
            #expect(diff["removed"] == [["settingId": "cloudService.cloudBlockLevel", "value": "high"]])
            #expect(diff["changed"] == [["settingId": "cloudService.enabled", "oldValue": true, "newValue": false]])
            #expect(diff["name"] == ["oldValue": "AV", "newValue": "AV prod"])
            #expect(diff["description"] == ["oldValue": "", "newValue": "for production"])
            // Without ?against=, the revision before.
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/2/diff").body == diff.body)

            let missing = try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/9")
            #expect(missing.status == 404)
            #expect(missing.errorMessage?.contains("revision 9") == true)
            let missingBase = try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/2/diff?against=7")
            #expect(missingBase.status == 404)
            #expect(missingBase.errorMessage?.contains("revision 7") == true)
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/1/diff").status == 400, "revision 1 has nothing before it")
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/abc").status == 400)
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/2/diff?against=0").status == 400)
            #expect(try await server.api(.GET, "/api/v1/policies/nope/revisions").status == 404)

            // A deleted policy's history stays readable.
            try await server.must(.DELETE, "/api/v1/policies/\(policy)")
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions")["revisions"]?.arrayValue?.count == 2)
        }
    }

    @Test(arguments: StoreEngine.available)
    func rollbackIsPreviewedThenMakesANewRevisionThatReachesALongPollingAgent(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, policy) = try await TestAgent.enrolledWithPolicy(server, settings: ["cloudService.enabled": true])
            try await agent.sync()
            try await server.must(.PUT, "/api/v1/policies/\(policy)", ["name": "AV", "platform": "linux", "template": "antivirus", "settings": ["cloudService.enabled": false]])
            try await agent.sync()
            #expect(try agent.managedValue("cloudService.enabled") == false)

            let preview = try await server.api(.POST, "/api/v1/policies/\(policy)/rollback/preview", ["revision": 1])
            #expect(preview.status == 200)
            #expect(preview["devicesChanged"] == 1)
            #expect(preview["settings"] == [["settingId": "cloudService.enabled", "devices": 1]])
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)")["revision"] == 2, "a preview saves nothing")

            // The rollback wakes the agent's long-poll like any update.
            let (outcome, elapsed) = try await agent.checkIn(parkedOn: server, waitSeconds: 120) {
                let rolledBack = try await server.api(.POST, "/api/v1/policies/\(policy)/rollback", ["revision": 1])
                #expect(rolledBack.status == 200)
                #expect(rolledBack["revision"] == 3)
                #expect(rolledBack["settings"] == ["cloudService.enabled": true])
            }
            guard case .applied = outcome else {
                Issue.record("expected the rolled-back configuration, got \(outcome)")
                return
            }
            #expect(elapsed < .seconds(60), "woken by the rollback, not at the end of the 120 s wait (took \(elapsed))")
            #expect(try agent.managedValue("cloudService.enabled") == true)

            let history = try await server.api(.GET, "/api/v1/policies/\(policy)/revisions")
            #expect(history["revisions"]?.arrayValue?.first?.objectValue?["restoredRevision"] == 1)
            let audit = try await server.api(.GET, "/api/v1/audit?action=policy.rollback")
            let event = try #require(audit["events"]?.arrayValue?.first?.objectValue)
            #expect(event["newValue"]?.objectValue?["restoredRevision"] == 1)
            #expect(event["newValue"]?.objectValue?["policy"]?.objectValue?["revision"] == 3)
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/3/diff?against=1")["changed"] == [])

            // Refusals: no such revision (404 naming it), a bad number, a revision today's
            // catalog refuses (400 naming the setting). Nothing is saved by any of them.
            let missing = try await server.api(.POST, "/api/v1/policies/\(policy)/rollback", ["revision": 42])
            #expect(missing.status == 404)
            #expect(missing.errorMessage?.contains("revision 42") == true)
            #expect(try await server.api(.POST, "/api/v1/policies/\(policy)/rollback", ["revision": 0]).status == 400)
            #expect(try await server.api(.POST, "/api/v1/policies/\(policy)/rollback", ["revision": "one"]).status == 400)
            #expect(try await server.api(.POST, "/api/v1/policies/nope/rollback", ["revision": 1]).status == 404)
            try await server.sql { sql in
                try await sql.raw("""
                    INSERT INTO policy_revisions (policy_id, revision, tenant_id, name, description, settings, created_at)
                    SELECT policy_id, 100, tenant_id, name, description, \(bind: #"{"cloudService.enabled":true,"retired.setting":1}"#), created_at
                    FROM policy_revisions WHERE policy_id = \(bind: policy) AND revision = 1
                    """).run()
            }
            for path in ["rollback", "rollback/preview"] {
                let outdated = try await server.api(.POST, "/api/v1/policies/\(policy)/\(path)", ["revision": 100])
                #expect(outdated.status == 400)
                #expect(outdated.errorCode == "invalid_settings")
                #expect(outdated.errorMessage?.contains("retired.setting") == true)
                #expect(outdated.errorMessage?.contains("revision 100") == true)
            }
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)")["revision"] == 3)
        }
    }

    @Test(arguments: StoreEngine.available)
    func readersMayReadAndPreviewButOnlyPolicyManagersRollBack(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            for role in ["readOnlyOperator", "helpDeskOperator"] {
                let token = try await roleToken(server, role)
                #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions", token: token).status == 200)
                #expect(try await server.api(.GET, "/api/v1/policies/\(policy)/revisions/1", token: token).status == 200)
                #expect(try await server.api(.POST, "/api/v1/policies/\(policy)/rollback/preview", ["revision": 1], token: token).status == 200)
                let refused = try await server.api(.POST, "/api/v1/policies/\(policy)/rollback", ["revision": 1], token: token)
                #expect(refused.status == 403, "\(role) must not roll back")
                #expect(refused.errorMessage?.contains("managePolicies") == true)
            }
            let manager = try await roleToken(server, "endpointSecurityManager")
            #expect(try await server.api(.POST, "/api/v1/policies/\(policy)/rollback", ["revision": 1], token: manager).status == 200)
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)")["revision"] == 2)
        }
    }
}

/// An API token with this role.
func roleToken(_ server: TestServer, _ role: String) async throws -> String {
    let created = try await server.must(.POST, "/api/v1/api-tokens", ["name": .string("\(role) \(UUID().uuidString.prefix(6))"), "role": .string(role)])
    return try #require(created.objectValue?["token"]?.stringValue)
}

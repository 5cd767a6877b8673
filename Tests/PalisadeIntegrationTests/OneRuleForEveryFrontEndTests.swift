import Foundation
import PalisadeCore
import PalisadeServer
import Testing

/// A rule lives in one domain service, so the admin API and the admin center's pages refuse the
/// same change the same way (the same message, the same status) and store nothing.
@Suite struct OneRuleForEveryFrontEndTests {
    @Test func aGroupBothIncludedAndExcludedIsRefusedTheSameWayByTheAPIAndAPage() async throws {
        try await TestServer.with(.sqlite) { server in
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            let group = try await server.createGroup("linux", members: [])
            let auditBefore = try await server.count("audit_events")

            let api = try await server.api(.PUT, "/api/v1/policies/\(policy)/assignments", ["include": [.string(group)], "exclude": [.string(group)]])
            #expect(api.status == 400)
            #expect(api.errorCode == "invalid_request")
            let message = try #require(api.errorMessage)
            #expect(message == "groups cannot be both included and excluded: \(group)")

            try await server.createUser("ada@example.com", role: "endpointSecurityManager")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)
            let page = try await browser.post("/policies/\(policy)/assignments", ["include": group, "exclude": group, "action": "save"])
            #expect(page.status == api.status)
            #expect(page.body.contains(message), "the page shows the API's message")

            #expect(try await server.count("policy_assignments") == 0)
            // Only the sign-in and the user's creation were audited; no assignment.
            #expect(try await server.count("audit_events") == auditBefore + 2)
        }
    }

    @Test func aSettingTheCatalogRefusesIsRefusedTheSameWayByTheAPIAndAPage() async throws {
        try await TestServer.with(.sqlite) { server in
            let api = try await server.api(.POST, "/api/v1/policies", ["name": "AV", "platform": "linux", "template": "antivirus",
                                                                        "settings": ["antivirusEngine.maximumOnDemandScanThreads": 500]])
            #expect(api.status == 400)
            #expect(api.errorCode == "invalid_settings")
            let problem = try #require(api.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["problems"]?.arrayValue?.first?.objectValue)
            #expect(problem["settingId"] == "antivirusEngine.maximumOnDemandScanThreads")

            try await server.createUser("ada@example.com", role: "endpointSecurityManager")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)
            let page = try await browser.post("/policies", ["platform": "linux", "template": "antivirus", "name": "AV", "action": "save",
                                                            "s.antivirusEngine.maximumOnDemandScanThreads": "500"])
            #expect(page.status == api.status)
            #expect(page.body.contains("id=\"setting-antivirusEngine-maximumOnDemandScanThreads-error\""))
            #expect(api.errorMessage?.contains("expected an integer from 1 to 64, got 500") == true)
            #expect(page.body.contains("expected an integer from 1 to 64, got 500"))
            #expect(try await server.count("policies") == 0)
        }
    }

    @Test func aNameTheRulesRefuseIsRefusedTheSameWayByTheAPIAndAPage() async throws {
        try await TestServer.with(.sqlite) { server in
            let api = try await server.api(.POST, "/api/v1/policies", ["name": "   ", "platform": "linux", "template": "antivirus", "settings": [:]])
            #expect(api.status == 400)
            let message = try #require(api.errorMessage)

            try await server.createUser("ada@example.com", role: "endpointSecurityManager")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)
            let page = try await browser.post("/policies", ["platform": "linux", "template": "antivirus", "name": "   ", "action": "save"])
            #expect(page.status == api.status)
            #expect(page.body.contains("id=\"name-error\""))
            #expect(page.body.contains(message))
            #expect(try await server.count("policies") == 0)
        }
    }

    @Test func aRuleThatDoesNotParseIsRefusedTheSameWayByTheAPIAndAPage() async throws {
        try await TestServer.with(.sqlite) { server in
            let api = try await server.api(.POST, "/api/v1/groups", ["name": "linux", "membershipRule": "device.platform -eq"])
            #expect(api.status == 400)
            #expect(api.errorCode == "invalid_rule")
            let message = try #require(api.errorMessage)

            try await server.createUser("ada@example.com", role: "administrator")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)
            let page = try await browser.post("/groups", ["name": "linux", "kind": "dynamic", "membershipRule": "device.platform -eq"])
            #expect(page.status == api.status)
            #expect(page.body.contains(PageText.escaped(message)))
            #expect(try await server.count("device_groups") == 0)
        }
    }
}

extension OneRuleForEveryFrontEndTests {
    /// The tenant-settings form holds two settings: one refused half saves neither.
    @Test func aRefusedHalfOfTheTenantSettingsFormSavesNothing() async throws {
        try await TestServer.with(.sqlite) { server in
            try await server.createUser("ada@example.com", role: "administrator")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)
            let before = try await server.api(.GET, "/api/v1/settings/enforcement")
            let auditBefore = try await server.count("audit_events")
            let refused = try await browser.post("/tenant-settings", ["platform.linux": "on", "scope": "tagged", "tag": "pilot", "staleAfterDays": "9999"])
            #expect(refused.status == 400)
            #expect(refused.body.contains("staleAfterDays must be from 1 to 3650"))
            #expect(try await server.api(.GET, "/api/v1/settings/enforcement").body == before.body, "the scope half was not saved")
            #expect(try await server.count("audit_events") == auditBefore)

            let saved = try await browser.post("/tenant-settings", ["platform.linux": "on", "scope": "tagged", "tag": "pilot", "staleAfterDays": "14"])
            #expect(saved.status == 303)
            #expect(try await server.api(.GET, "/api/v1/settings/enforcement")["tag"] == "pilot")
            #expect(try await server.api(.GET, "/api/v1/settings/devices")["staleAfterDays"] == 14)
        }
    }
}

/// Text as the admin center's templates escape it.
enum PageText {
    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }
}

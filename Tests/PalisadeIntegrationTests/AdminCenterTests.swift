import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PalisadeCore
import PalisadeServer
import Testing

/// The admin center's pages over real HTTP, as a browser without JavaScript uses them: a
/// session cookie, forms with the session's CSRF token, redirects not followed so that each
/// answer can be checked. (The browser tests in tests/admin_center drive the same pages in
/// Chromium.)
@Suite struct AdminCenterTests {
    static let password = "correct horse battery"

    @Test(arguments: StoreEngine.available)
    func signingInShowsEveryPageAndSigningOutEndsTheSession(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            try await server.createUser("ada@example.com", role: "administrator")
            let browser = PageClient(server: server)
            defer { browser.close() }

            let anonymous = try await browser.get("/devices?platform=linux")
            #expect(anonymous.status == 303)
            #expect(anonymous.location == "/sign-in?next=/devices%3Fplatform%3Dlinux")

            let refused = try await browser.signIn("ada@example.com", "wrong password")
            #expect(refused.status == 401)
            #expect(refused.body.contains("class=\"error\""))
            #expect(browser.cookie == nil)

            let signedIn = try await browser.signIn("ada@example.com", Self.password, next: "/devices")
            #expect(signedIn.status == 303)
            #expect(signedIn.location == "/devices")
            #expect(signedIn.headers["Set-Cookie"].first?.contains("HttpOnly") == true)
            #expect(signedIn.headers["Set-Cookie"].first?.contains("SameSite=Strict") == true)

            for path in ["/", "/devices", "/groups", "/groups/new", "/policies", "/policies/new", "/policies/new?platform=windows&template=attackSurfaceReduction",
                         "/policies/new?platform=macos&template=antivirus", "/reports", "/onboarding", "/tenant-settings", "/users", "/api-tokens", "/audit"] {
                let page = try await browser.get(path)
                #expect(page.status == 200, "\(path): \(page.status) \(page.body.prefix(300))")
                let policy = page.headers["Content-Security-Policy"].first ?? ""
                #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "\(path): \(policy)")
                #expect(page.headers["X-Frame-Options"].first == "DENY")
                #expect(page.body.contains("<main id=\"main\""))
                #expect(!page.body.contains("<script>"), "\(path) has an inline script")
            }

            let signedOut = try await browser.post("/sign-out", [:])
            #expect(signedOut.status == 303)
            #expect(signedOut.location == "/sign-in")
            #expect(try await browser.get("/").status == 303)
        }
    }

    @Test func signInSendsPeopleOnlyToPagesOfThisServer() async throws {
        try await TestServer.with(.sqlite) { server in
            try await server.createUser("ada@example.com", role: "administrator")
            for (next, expected) in [("//evil.example/x", "/"), ("https://evil.example", "/"), ("/\\evil.example", "/"), ("/groups", "/groups")] {
                let browser = PageClient(server: server)
                defer { browser.close() }
                let answer = try await browser.signIn("ada@example.com", Self.password, next: next)
                #expect(answer.location == expected, "next=\(next)")
            }
        }
    }

    @Test(arguments: StoreEngine.available)
    func formsAreRefusedWithoutTheSessionsCSRFToken(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            try await server.createUser("ada@example.com", role: "administrator")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", Self.password)

            let missing = try await browser.post("/groups", ["name": "web", "kind": "static"], csrf: nil)
            #expect(missing.status == 403)
            #expect(missing.body.contains("CSRF"))
            let forged = try await browser.post("/groups", ["name": "web", "kind": "static"], csrf: "not-the-token")
            #expect(forged.status == 403)
            #expect(try await server.count("device_groups") == 0)

            let created = try await browser.post("/groups", ["name": "web", "kind": "static", "description": "web servers"])
            #expect(created.status == 303)
            let groupPath = try #require(created.location?.components(separatedBy: "?").first)
            #expect(groupPath.hasPrefix("/groups/"))
            #expect(try await server.count("device_groups") == 1)
            // Audited as the signed-in person.
            let audit = try await server.api(.GET, "/api/v1/audit?action=group.create")
            let event = try #require(audit["events"]?.arrayValue?.first?.objectValue)
            #expect(event["actor"]?.objectValue?["name"]?.stringValue == "ada@example.com")
        }
    }

    @Test(arguments: StoreEngine.available)
    func aReadOnlyOperatorSeesNoEditControlsAndIsRefusedWhenPostingAnyway(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            try await server.createUser("rita@example.com", role: "readOnlyOperator")
            let group = try await server.createGroup("web", members: [])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("rita@example.com", Self.password)

            let groups = try await browser.get("/groups")
            #expect(groups.status == 200)
            #expect(!groups.body.contains("href=\"/groups/new\""))
            let groupPage = try await browser.get("/groups/\(group)")
            #expect(groupPage.body.components(separatedBy: "<form method=\"post\"").count == 2, "no form but sign-out")
            let policyPage = try await browser.get("/policies/\(policy)")
            #expect(policyPage.status == 200)
            #expect(!policyPage.body.contains("Edit settings"))
            #expect(!policyPage.body.contains("name=\"include\""))
            #expect(try await browser.get("/groups/new").status == 403)

            let refused = try await browser.post("/groups", ["name": "sneaky", "kind": "static"])
            #expect(refused.status == 403)
            #expect(refused.body.contains("manageGroups"))
            let assign = try await browser.post("/policies/\(policy)/assignments", ["include": group, "action": "save"])
            #expect(assign.status == 403)
            #expect(try await server.count("device_groups") == 1)
            #expect(try await server.count("policy_assignments") == 0)
        }
    }

    @Test(arguments: StoreEngine.available)
    func thePolicyFormShowsEachProblemBesideItsSettingAndSavesNothingUntilValid(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            try await server.createUser("ada@example.com", role: "endpointSecurityManager")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", Self.password)
            let form = try await browser.get("/policies/new?platform=linux&template=antivirus")
            #expect(form.body.contains("id=\"setting-antivirusEngine-maximumOnDemandScanThreads\""))
            #expect(form.body.contains("for=\"setting-antivirusEngine-maximumOnDemandScanThreads\""), "every input has its label")

            let fields = ["platform": "linux", "template": "antivirus", "name": "Linux AV", "action": "save",
                          "s.antivirusEngine.maximumOnDemandScanThreads": "500", "s.cloudService.enabled": "true",
                          "s.antivirusEngine.scanResultsRetentionDays": "ninety"]
            let refused = try await browser.post("/policies", fields)
            #expect(refused.status == 400)
            #expect(refused.body.contains("id=\"setting-antivirusEngine-maximumOnDemandScanThreads-error\""))
            #expect(refused.body.contains("expected an integer from 1 to 64, got 500"))
            #expect(refused.body.contains("id=\"setting-antivirusEngine-scanResultsRetentionDays-error\""))
            #expect(refused.body.contains("value=\"500\""), "what was typed is kept")
            #expect(try await server.count("policies") == 0)

            var valid = fields
            valid["s.antivirusEngine.maximumOnDemandScanThreads"] = "8"
            valid["s.antivirusEngine.scanResultsRetentionDays"] = ""
            let created = try await browser.post("/policies", valid)
            #expect(created.status == 303, "\(created.body.prefix(500))")
            let policies = try await server.api(.GET, "/api/v1/policies")
            let stored = try #require(policies["policies"]?.arrayValue?.first?.objectValue)
            #expect(stored["settings"] == ["antivirusEngine.maximumOnDemandScanThreads": 8, "cloudService.enabled": true])
        }
    }

    @Test func aDynamicGroupsRuleErrorIsShownUnderTheRule() async throws {
        try await TestServer.with(.sqlite) { server in
            try await server.createUser("ada@example.com", role: "administrator")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", Self.password)
            let refused = try await browser.post("/groups", ["name": "linux", "kind": "dynamic", "membershipRule": "device.platform -eq"])
            #expect(refused.status == 400)
            #expect(refused.body.contains("<p class=\"field-error\" id=\"membershipRule-error\" role=\"alert\">membershipRule"))
            #expect(try await server.count("device_groups") == 0)
            let created = try await browser.post("/groups", ["name": "linux", "kind": "dynamic", "membershipRule": "device.platform -eq \"linux\""])
            #expect(created.status == 303)
        }
    }

    @Test func everythingShownIsEscaped() async throws {
        try await TestServer.with(.sqlite) { server in
            try await server.createUser("ada@example.com", role: "administrator")
            let agent = try await TestAgent.enroll(server, name: "<script>alert(1)</script>", token: try await server.createEnrollmentToken())
            _ = try await server.createGroup("\"><img src=x onerror=alert(2)>", members: [agent.deviceId])
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", Self.password)
            for path in ["/devices", "/devices/\(agent.deviceId)", "/groups"] {
                let page = try await browser.get(path)
                #expect(page.status == 200)
                #expect(!page.body.contains("<script>alert(1)"), "\(path)")
                #expect(!page.body.contains("<img src=x"), "\(path)")
            }
            #expect(try await browser.get("/devices").body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(try await browser.get("/groups").body.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"))
        }
    }
}

@Suite struct AdminCenterWorkflowTests {
    /// Rollback from the policy page: a preview (the difference and the impact) that saves
    /// nothing, then the confirmation that saves a new revision equal to the chosen one.
    @Test(arguments: StoreEngine.available)
    func rollbackIsPreviewedThenSavedAsANewRevision(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            try await server.createUser("ada@example.com", role: "endpointSecurityManager")
            let policy = try await server.createPolicy("AV", settings: ["antivirusEngine.maximumOnDemandScanThreads": 2])
            try await server.must(.PUT, "/api/v1/policies/\(policy)", ["name": "AV", "platform": "linux", "template": "antivirus",
                                                                      "settings": ["antivirusEngine.maximumOnDemandScanThreads": 6]])
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)
            let page = try await browser.get("/policies/\(policy)")
            #expect(page.body.contains("aria-label=\"Roll back to revision 1\""))

            let preview = try await browser.post("/policies/\(policy)/rollback", ["revision": "1", "action": "preview"])
            #expect(preview.status == 200)
            #expect(preview.body.contains("id=\"rollback-preview\""))
            #expect(preview.body.contains("<td><code>6</code></td><td><code>2</code></td>"), "the change from the current revision back to 1")
            #expect(try await server.api(.GET, "/api/v1/policies/\(policy)")["revision"] == 2, "a preview saves nothing")

            let confirmed = try await browser.post("/policies/\(policy)/rollback", ["revision": "1", "action": "confirm"])
            #expect(confirmed.status == 303)
            let stored = try await server.api(.GET, "/api/v1/policies/\(policy)")
            #expect(stored["revision"] == 3)
            #expect(stored["settings"] == ["antivirusEngine.maximumOnDemandScanThreads": 2])
            let diff = try await browser.get("/policies/\(policy)/revisions/3?against=2")
            #expect(diff.status == 200)
            #expect(diff.body.contains("antivirusEngine.maximumOnDemandScanThreads"))
            #expect(try await browser.get("/policies/\(policy)/revisions/9").status == 404)
        }
    }

    /// Sync now from a device's page and a group's page: audited as the signed-in person; the
    /// device page says the sync waits for the device.
    @Test func syncNowFromTheDeviceAndGroupPages() async throws {
        try await TestServer.with(.sqlite) { server in
            try await server.createUser("kim@example.com", role: "helpDeskOperator")
            let agent = try await TestAgent.enroll(server, name: "web-01", token: try await server.createEnrollmentToken())
            let group = try await server.createGroup("web", members: [agent.deviceId])
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("kim@example.com", AdminCenterTests.password)
            let device = try await browser.post("/devices/\(agent.deviceId)/sync", [:])
            #expect(device.status == 303)
            #expect(device.location == "/devices/\(agent.deviceId)?notice=synced")
            #expect(try await browser.get(try #require(device.location)).body.contains("waiting for the device to report"))
            #expect(try await browser.post("/groups/\(group)/sync", [:]).status == 303)
            let audit = try await server.api(.GET, "/api/v1/audit?actor=kim@example.com")
            let actions = Set(audit["events"]?.arrayValue?.compactMap { $0.objectValue?["action"]?.stringValue } ?? [])
            #expect(actions == ["session.signIn", "device.sync", "group.sync"])
        }
    }

    /// The enrollment report page: each device's state, the reason and Defender's state.
    @Test func theEnrollmentReportPageNamesDefendersState() async throws {
        try await TestServer.with(.sqlite) { server in
            try await server.createUser("ada@example.com", role: "readOnlyOperator")
            let agent = try await TestAgent.enroll(server, name: "bare", token: try await server.createEnrollmentToken(), defender: nil)
            try await agent.sync()
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)
            let page = try await browser.get("/reports/enrollment")
            #expect(page.status == 200)
            #expect(page.body.contains("Defender not installed"))
            #expect(page.body.contains("href=\"/api/v1/reports/enrollment?format=csv\""))
        }
    }
}

/// A browser without JavaScript: keeps the session cookie, reads the CSRF token from the page's
/// meta tag, sends forms URL-encoded, and does not follow redirects.
final class PageClient: @unchecked Sendable {
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var location: String? { headers["Location"].first }
    }

    let server: TestServer
    let client: HTTPClient
    var cookie: String?
    var csrf: String?

    init(server: TestServer) {
        self.server = server
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        if let tls = try? server.clientTLS() { configuration.tlsConfiguration = tls }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func close() { try? client.syncShutdown() }

    func get(_ path: String) async throws -> Answer {
        let answer = try await send(.GET, path, body: nil)
        if let token = answer.body.firstMatch(of: /<meta name="csrf-token" content="([^"]*)">/)?.1, !token.isEmpty { csrf = String(token) }
        return answer
    }

    /// Posts a form with the session's CSRF token (`csrf: nil` leaves it out).
    func post(_ path: String, _ fields: [String: String], csrf: String?? = .some(nil)) async throws -> Answer {
        if self.csrf == nil, cookie != nil { _ = try await get("/") }
        var fields = fields
        switch csrf {
        case .some(.some(let given)): fields["csrf"] = given
        case .some(.none): fields["csrf"] = self.csrf
        case .none: break
        }
        return try await send(.POST, path, body: Self.encode(fields))
    }

    func signIn(_ email: String, _ password: String, next: String = "/") async throws -> Answer {
        let answer = try await send(.POST, "/sign-in", body: Self.encode(["email": email, "password": password, "next": next]))
        if answer.status == 303 { _ = try await get("/") }
        return answer
    }

    static func encode(_ fields: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        return fields.sorted { $0.key < $1.key }.map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
    }

    private func send(_ method: HTTPMethod, _ path: String, body: String?) async throws -> Answer {
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: "palisade_session=\(cookie)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 8 * 1024 * 1024)
        for header in response.headers["Set-Cookie"] where header.hasPrefix("palisade_session=") {
            let value = header.dropFirst("palisade_session=".count).prefix { $0 != ";" }
            cookie = value.isEmpty ? nil : String(value)
            if cookie == nil { csrf = nil }
        }
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }
}

extension TestServer {
    func createUser(_ email: String, role: String) async throws {
        try await must(.POST, "/api/v1/users", ["email": .string(email), "displayName": "Test person", "role": .string(role), "password": .string(AdminCenterTests.password)])
    }
}

/// Every page, for every role, signed in with a session: a role without the page's permission
/// gets 403 naming it (a form posted with a valid CSRF token included); a role with it never
/// gets 403. Derived from the route table, so a new page is covered when it is registered.
@Suite struct AdminCenterPermissionTests {
    @Test func everyRoleIsHeldToItsPermissionsOnEveryPage() async throws {
        try await TestServer.with(.sqlite) { server in
            let access = RouteAccess()
            _ = buildRouter(store: server.store, access: access)
            var browsers: [Role: PageClient] = [:]
            for role in Role.allCases {
                try await server.createUser("\(role.rawValue)@example.com", role: role.rawValue)
                let browser = PageClient(server: server)
                _ = try await browser.signIn("\(role.rawValue)@example.com", AdminCenterTests.password)
                browsers[role] = browser
            }
            defer { browsers.values.forEach { $0.close() } }
            var checked = 0
            for (route, requirement) in access.all.sorted(by: { $0.key < $1.key }) {
                guard case .permission(let permission) = requirement, !route.contains(" /api/"), !route.contains(" /device/") else { continue }
                let parts = route.split(separator: " ", maxSplits: 1)
                let path = String(parts[1]).replacing(/\{[^}]+\}/, with: "00000000-0000-0000-0000-000000000000")
                for role in Role.allCases {
                    let browser = try #require(browsers[role])
                    let answer = parts[0] == "GET" ? try await browser.get(path) : try await browser.post(path, [:])
                    if role.allows(permission) {
                        #expect(answer.status != 403, "\(role.rawValue) may \(route) but got 403")
                    } else {
                        #expect(answer.status == 403, "\(role.rawValue) must not \(route); got \(answer.status)")
                        #expect(answer.body.contains(permission.rawValue))
                    }
                    checked += 1
                }
            }
            #expect(checked >= 30 * Role.allCases.count)
            #expect(try await server.count("device_groups") == 0)
            #expect(try await server.count("policies") == 0)
        }
    }
}

import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOHTTP1
import PalisadeCore
import PalisadeServer
import Testing

/// Who may do what: the permission declared beside every route, enforced for every role.
@Suite struct PermissionTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every route the router serves says what it asks of its caller, and the committed
    /// permission table is the one the routes declare.
    @Test func everyRouteDeclaresWhatItNeeds() async throws {
        try await TestServer.with(.sqlite) { server in
            let access = RouteAccess()
            let router = buildRouter(store: server.store, access: access)
            let served = Set(router.routes.map { RouteKey.of(method: $0.method.rawValue, path: "\($0.path)") })
            let declared = Set(access.all.keys)
            #expect(served.subtracting(declared).isEmpty, "routes without a declared permission: \(served.subtracting(declared).sorted())")
            #expect(declared.subtracting(served).isEmpty, "declared but not served: \(declared.subtracting(served).sorted())")

            let document = Self.packageRoot.appendingPathComponent("docs/PERMISSIONS.md")
            if ProcessInfo.processInfo.environment["PALISADE_UPDATE_DOCS"] == "1" {
                try access.markdown().write(to: document, atomically: true, encoding: .utf8)
            }
            #expect(try String(contentsOf: document, encoding: .utf8) == access.markdown(),
                    "docs/PERMISSIONS.md is stale: run PALISADE_UPDATE_DOCS=1 swift test --filter PermissionTests")
        }
    }

    /// Each role against each admin route, derived from the route table: a role without the
    /// route's permission gets 403 naming it (before anything about the object is looked at);
    /// a role with it never gets 403.
    @Test(arguments: StoreEngine.available)
    func everyRoleIsHeldToItsPermissionsOnEveryRoute(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let access = RouteAccess()
            _ = buildRouter(store: server.store, access: access)
            var tokens: [Role: String] = [:]
            for role in Role.allCases {
                let created = try await server.must(.POST, "/api/v1/api-tokens", ["name": .string("\(role.rawValue) token"), "role": .string(role.rawValue)])
                tokens[role] = try #require(created.objectValue?["token"]?.stringValue)
            }
            var checked = 0
            for (route, requirement) in access.all.sorted(by: { $0.key < $1.key }) {
                // Pages take no API token (a session only): AdminCenterTests holds them to their roles.
                guard case .permission(let permission) = requirement, route.contains(" /api/") else { continue }
                let parts = route.split(separator: " ", maxSplits: 1)
                let method = HTTPMethod(rawValue: String(parts[0]))
                let path = String(parts[1]).replacingOccurrences(of: "**", with: "Defender/Nothing")
                    .replacing(/\{[^}]+\}/, with: "00000000-0000-0000-0000-000000000000")
                for role in Role.allCases {
                    let response = try await server.api(method, path, [:], token: tokens[role])
                    if role.allows(permission) {
                        #expect(response.status != 403, "\(role.rawValue) may \(route) (\(permission.rawValue)) but got 403: \(response.body)")
                    } else {
                        #expect(response.status == 403, "\(role.rawValue) must not \(route) (\(permission.rawValue)); got \(response.status)")
                        #expect(response.errorCode == "forbidden")
                        #expect(response.errorMessage?.contains(permission.rawValue) == true)
                    }
                    checked += 1
                }
            }
            #expect(checked >= 40 * Role.allCases.count)
            // A refused change changed nothing.
            #expect(try await server.count("device_groups") == 0)
            #expect(try await server.count("policies") == 0)
        }
    }
}

enum RouteKey {
    static func of(method: String, path: String) -> String {
        "\(method) /" + path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
    }
}

/// API tokens: roles, expiry, revocation, last use.
@Suite struct APITokenTests {
    @Test(arguments: StoreEngine.available)
    func expiredAndRevokedTokensAreRefused(engine: StoreEngine) async throws {
        let clock = ManualClock()
        try await TestServer.with(engine, clock: clock) { server in
            let created = try await server.must(.POST, "/api/v1/api-tokens", ["name": "ci", "role": "readOnlyOperator", "expiresInDays": 1])
            let token = try #require(created.objectValue?["token"]?.stringValue)
            let id = try #require(created.objectValue?["apiToken"]?.objectValue?["id"]?.stringValue)
            #expect(created.objectValue?["apiToken"]?.objectValue?["token"] == nil, "the secret is in the answer once, not in the record")
            #expect(try await server.api(.GET, "/api/v1/devices", token: token).status == 200)
            let listed = try await server.must(.GET, "/api/v1/api-tokens")
            let record = try #require(listed.objectValue?["apiTokens"]?.arrayValue?.first { $0.objectValue?["id"]?.stringValue == id }?.objectValue)
            #expect(record["lastUsedAt"] != nil, "use is recorded")
            #expect(record["createdBy"] == "owner")

            clock.advance(by: 2 * 86_400)
            let expired = try await server.api(.GET, "/api/v1/devices", token: token)
            #expect(expired.status == 401)
            #expect(expired.errorCode == "token_expired")

            let other = try await server.must(.POST, "/api/v1/api-tokens", ["name": "ops", "role": "administrator"])
            let otherToken = try #require(other.objectValue?["token"]?.stringValue)
            let otherId = try #require(other.objectValue?["apiToken"]?.objectValue?["id"]?.stringValue)
            #expect(try await server.api(.GET, "/api/v1/users", token: otherToken).status == 200)
            #expect(try await server.api(.DELETE, "/api/v1/api-tokens/\(otherId)").status == 204)
            let revoked = try await server.api(.GET, "/api/v1/users", token: otherToken)
            #expect(revoked.status == 401)
            #expect(revoked.errorCode == "token_revoked")

            let bad = try await server.api(.POST, "/api/v1/api-tokens", ["name": "x", "role": "owner"])
            #expect(bad.status == 400, "roles are the four built-in ones")
            let long = try await server.api(.POST, "/api/v1/api-tokens", ["name": "x", "role": "administrator", "expiresInDays": 5000])
            #expect(long.status == 400)
        }
    }
}

/// People: sign-in, sessions, CSRF, lockout.
@Suite struct SessionTests {
    static let password = "correct horse battery"

    func signIn(_ server: TestServer, _ email: String, _ password: String = Self.password) async throws -> TestServer.APIResponse {
        try await server.api(.POST, "/api/v1/session", ["email": .string(email), "password": .string(password)], token: "")
    }

    @Test(arguments: StoreEngine.available)
    func sessionsCarryCSRFTokensAndEnd(engine: StoreEngine) async throws {
        let clock = ManualClock()
        try await TestServer.with(engine, clock: clock) { server in
            _ = try await server.must(.POST, "/api/v1/users", ["email": "Ada@Example.com", "displayName": "Ada", "role": "endpointSecurityManager", "password": .string(Self.password)])
            let signedIn = try await signIn(server, "ada@example.com")
            #expect(signedIn.status == 200)
            let setCookie = try #require(signedIn.headers["Set-Cookie"].first)
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("Secure") && setCookie.contains("SameSite=Strict"), "\(setCookie)")
            let cookie = try #require(setCookie.split(separator: ";").first.map(String.init))
            let csrf = try #require(signedIn["csrfToken"]?.stringValue)

            #expect(try await server.api(.GET, "/api/v1/devices", token: "", headers: ["Cookie": cookie]).status == 200)
            let forged = try await server.api(.POST, "/api/v1/groups", ["name": "g", "members": []], token: "", headers: ["Cookie": cookie])
            #expect(forged.status == 403)
            #expect(forged.errorCode == "csrf_token_invalid")
            let wrong = try await server.api(.POST, "/api/v1/groups", ["name": "g", "members": []], token: "", headers: ["Cookie": cookie, "X-CSRF-Token": "nope"])
            #expect(wrong.errorCode == "csrf_token_invalid")
            #expect(try await server.count("device_groups") == 0)
            let made = try await server.api(.POST, "/api/v1/groups", ["name": "g", "members": []], token: "", headers: ["Cookie": cookie, "X-CSRF-Token": csrf])
            #expect(made.status == 201)
            let settings = try await server.api(.PUT, "/api/v1/settings/devices", ["staleAfterDays": 10], token: "", headers: ["Cookie": cookie, "X-CSRF-Token": csrf])
            #expect(settings.status == 403, "the role still applies to a session")

            // Idle for 31 minutes: the session has ended.
            clock.advance(by: 31 * 60)
            let idle = try await server.api(.GET, "/api/v1/devices", token: "", headers: ["Cookie": cookie])
            #expect(idle.status == 401)
            #expect(idle.errorCode == "session_expired")

            let again = try await signIn(server, "ada@example.com")
            let cookie2 = try #require(again.headers["Set-Cookie"].first?.split(separator: ";").first.map(String.init))
            let csrf2 = try #require(again["csrfToken"]?.stringValue)
            #expect(try await server.api(.DELETE, "/api/v1/session", token: "", headers: ["Cookie": cookie2, "X-CSRF-Token": csrf2]).status == 204)
            #expect(try await server.api(.GET, "/api/v1/devices", token: "", headers: ["Cookie": cookie2]).status == 401, "signed out on the server")
        }
    }

    @Test(arguments: StoreEngine.available)
    func repeatedFailuresLockTheAccountAndTheAddress(engine: StoreEngine) async throws {
        let clock = ManualClock()
        try await TestServer.with(engine, clock: clock) { server in
            _ = try await server.must(.POST, "/api/v1/users", ["email": "bob@example.com", "displayName": "Bob", "role": "readOnlyOperator", "password": .string(Self.password)])
            for _ in 0..<5 {
                let wrong = try await signIn(server, "bob@example.com", "not the password")
                #expect(wrong.status == 401)
                #expect(wrong.errorCode == "invalid_credentials")
            }
            let locked = try await signIn(server, "bob@example.com")
            #expect(locked.status == 429, "locked even with the right password")
            #expect(locked.errorCode == "account_locked")
            #expect(Int(locked.headers["Retry-After"].first ?? "") ?? 0 > 800)
            let unknown = try await signIn(server, "nobody@example.com", "whatever it is")
            #expect(unknown.errorMessage == "the email or the password is not right", "an unknown email reads like a wrong password")

            clock.advance(by: 16 * 60)
            #expect(try await signIn(server, "bob@example.com").status == 200, "the lock ends")

            // Ten failures from one address in five minutes: the address waits, whatever the account.
            for index in 0..<10 { _ = try await signIn(server, "guess\(index)@example.com", "guessing wrong") }
            let throttled = try await signIn(server, "bob@example.com")
            #expect(throttled.status == 429)
            #expect(throttled.errorCode == "too_many_requests")
            #expect(throttled.headers["Retry-After"].first != nil)

            let audit = try await server.must(.GET, "/api/v1/audit?action=session.signInFailed&limit=100")
            #expect((audit.objectValue?["events"]?.arrayValue?.count ?? 0) >= 6, "failed sign-ins of a known account are audited")
        }
    }
}

/// The audit log: every kind of change, with who, from where, and the old and new value.
@Suite struct AuditTests {
    @Test(arguments: StoreEngine.available)
    func everyChangeIsAuditedWithItsOldAndNewValue(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let enrollment = try await server.must(.POST, "/api/v1/enrollment-tokens", ["name": "lab", "expiresInHours": 1])
            let enrollmentId = try #require(enrollment.objectValue?["id"]?.stringValue)
            let agent = try await TestAgent.enroll(server, name: "web-01", token: try #require(enrollment.objectValue?["token"]?.stringValue))
            let group = try await server.createGroup("web", members: [])
            _ = try await server.must(.POST, "/api/v1/groups/\(group)/members", ["deviceIds": .array([.string(agent.deviceId)])])
            _ = try await server.must(.PUT, "/api/v1/groups/\(group)", ["name": "web servers"])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            _ = try await server.must(.PUT, "/api/v1/policies/\(policy)", ["name": "AV", "platform": "linux", "template": "antivirus", "settings": ["cloudService.enabled": false]])
            try await server.assign(policy, include: [group])
            _ = try await server.must(.PATCH, "/api/v1/devices/\(agent.deviceId)", ["tags": ["prod"]])
            _ = try await server.must(.PUT, "/api/v1/settings/devices", ["staleAfterDays": 10])
            var scope = try await server.must(.GET, "/api/v1/settings/enforcement").objectValue ?? [:]
            scope["scope"] = "tagged"
            scope["tag"] = "prod"
            _ = try await server.must(.PUT, "/api/v1/settings/enforcement", .object(scope))
            let token = try await server.must(.POST, "/api/v1/api-tokens", ["name": "ci", "role": "readOnlyOperator"])
            let tokenId = try #require(token.objectValue?["apiToken"]?.objectValue?["id"]?.stringValue)
            _ = try await server.api(.DELETE, "/api/v1/api-tokens/\(tokenId)")
            let user = try await server.must(.POST, "/api/v1/users", ["email": "eve@example.com", "displayName": "Eve", "role": "helpDeskOperator", "password": "a long enough password"])
            let userId = try #require(user.objectValue?["id"]?.stringValue)
            _ = try await server.must(.PATCH, "/api/v1/users/\(userId)", ["role": "readOnlyOperator"])
            _ = try await server.api(.DELETE, "/api/v1/users/\(userId)")
            _ = try await server.api(.DELETE, "/api/v1/groups/\(group)/members/\(agent.deviceId)")
            _ = try await server.api(.DELETE, "/api/v1/enrollment-tokens/\(enrollmentId)")
            _ = try await server.api(.DELETE, "/api/v1/devices/\(agent.deviceId)")
            _ = try await server.api(.DELETE, "/api/v1/policies/\(policy)")
            _ = try await server.api(.DELETE, "/api/v1/groups/\(group)")

            var events: [[String: JSONValue]] = []
            var cursor: String?
            repeat {
                let page = try await server.must(.GET, "/api/v1/audit?limit=7" + (cursor.map { "&cursor=\($0)" } ?? ""))
                events += page.objectValue?["events"]?.arrayValue?.compactMap(\.objectValue) ?? []
                cursor = page.objectValue?["nextCursor"]?.stringValue
            } while cursor != nil
            func event(_ action: String) -> [String: JSONValue]? { events.first { $0["action"]?.stringValue == action } }

            let expected = ["tenant.create", "apiToken.create", "enrollmentToken.create", "device.enroll", "group.create", "group.addMembers",
                            "group.update", "policy.create", "policy.update", "policy.assign", "device.tags", "settings.devices",
                            "settings.enforcement", "apiToken.revoke", "user.create", "user.update", "user.delete", "group.removeMember",
                            "enrollmentToken.revoke", "device.retire", "policy.delete", "group.delete"]
            for action in expected {
                #expect(event(action) != nil, "no audit entry for \(action)")
            }
            let update = try #require(event("policy.update"))
            #expect(update["oldValue"]?.objectValue?["settings"]?.objectValue?["cloudService.enabled"] == false || update["oldValue"]?.objectValue?["settings"]?.objectValue?["cloudService.enabled"] == true)
            #expect(update["oldValue"]?.objectValue?["settings"]?.objectValue?["cloudService.enabled"] == true)
            #expect(update["newValue"]?.objectValue?["settings"]?.objectValue?["cloudService.enabled"] == false)
            #expect(update["newValue"]?.objectValue?["revision"] == 2)
            #expect(update["actor"]?.objectValue?["type"] == "apiToken")
            #expect(update["actor"]?.objectValue?["name"] == "owner")
            #expect(update["actor"]?.objectValue?["sourceAddress"]?.stringValue == "127.0.0.1")
            #expect(event("device.tags")?["newValue"] == ["tags": ["prod"]])
            #expect(event("device.enroll")?["actor"]?.objectValue?["type"] == "device")
            #expect(event("user.update")?["oldValue"]?.objectValue?["role"] == "helpDeskOperator")
            #expect(event("user.update")?["newValue"]?.objectValue?["user"]?.objectValue?["role"] == "readOnlyOperator")
            #expect(event("policy.assign")?["newValue"]?.objectValue?["include"] == [.string(group)])
            let allText = String(decoding: try CanonicalJSON.data(JSONValue.array(events.map(JSONValue.object))), as: UTF8.self)
            #expect(!allText.contains("pat_") && !allText.contains("pet_") && !allText.contains("a long enough password"), "no secret is ever audited")
            let times = events.compactMap { $0["at"]?.stringValue }
            #expect(times == times.sorted(by: >), "newest first")

            let filtered = try await server.must(.GET, "/api/v1/audit?targetId=\(policy)")
            #expect(Set(filtered.objectValue?["events"]?.arrayValue?.compactMap { $0.objectValue?["action"]?.stringValue } ?? [])
                == ["policy.create", "policy.update", "policy.assign", "policy.delete"])
            let byAction = try await server.must(.GET, "/api/v1/audit?action=device.retire")
            #expect(byAction.objectValue?["events"]?.arrayValue?.count == 1)
            let future = try await server.must(.GET, "/api/v1/audit?since=2999-01-01T00:00:00Z")
            #expect(future.objectValue?["events"]?.arrayValue?.isEmpty == true)
            #expect(try await server.api(.GET, "/api/v1/audit?since=yesterday").status == 400)
            #expect(try await server.api(.DELETE, "/api/v1/audit").status == 405, "no route deletes entries")
            #expect(try await server.api(.PUT, "/api/v1/audit", [:]).status == 405, "no route edits entries")
        }
    }
}

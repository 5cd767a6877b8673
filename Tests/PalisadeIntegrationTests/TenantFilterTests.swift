import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// Every statement the server runs on a table with a tenant column filters by it (or is one
/// of the few reached through a key that only its tenant holds, listed below with why): a
/// statement that forgets the filter could read or change another tenant's rows when an id
/// is guessed or reused. The statements are the drivers' own query log while the whole admin
/// API, the pages' data and the device protocol are exercised on a real SQLite file.
@Suite struct TenantFilterTests {
    /// Statements allowed without `tenant_id`, by a piece of their text, with the reason.
    static let reachedThroughATenantKey: [(piece: String, why: String)] = [
        ("FROM api_tokens WHERE token_hash =", "authentication: the secret's hash names one token, and so its tenant"),
        ("UPDATE api_tokens SET last_used_at", "authentication: by the id the token's own hash just found"),
        ("FROM sessions WHERE id_hash =", "authentication: the cookie's hash names one session"),
        ("UPDATE sessions SET last_seen_at", "authentication: by the cookie's own hash"),
        ("DELETE FROM sessions WHERE id_hash", "signing out: by the cookie's own hash"),
        ("FROM users WHERE email =", "signing in: an email belongs to one user across tenants (it finds the tenant)"),
        ("FROM enrollment_tokens WHERE token_hash =", "enrollment: the secret's hash names one token, and so the tenant the device joins"),
        ("SELECT tenant_id, public_key, pending_public_key, enrollment_status FROM devices WHERE id = ?1",
         "authentication: the credentials an assertion is checked against; the device id names them and its key then proves the request"),
        // Migrations run once, before serving, over every tenant's rows.
        ("UPDATE api_tokens SET role = 'administrator' WHERE role = 'owner'", "migration"),
        ("DELETE FROM group_members WHERE group_id IN (SELECT id FROM device_groups WHERE membership_rule IS NOT NULL)", "migration"),
        ("UPDATE devices SET original_hardware_id = hardware_id, hardware_id = 'retired:' || id WHERE enrollment_status = 'retired'", "migration"),
    ]

    @Test func everyStatementOnATenantTableFiltersByTenant() async throws {
        let log = StatementLog()
        let tenantTables = try await TestServer.with(.sqlite, statements: log) { server in
            try await Self.exerciseEverything(server)
            return try await server.sql { sql in
                var tables: Set<String> = []
                for row in try await sql.raw("SELECT m.name AS name FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' AND c.name = 'tenant_id'").all() {
                    tables.insert(try row.decode(column: "name", as: String.self))
                }
                return tables
            }
        }
        #expect(tenantTables.count >= 15, "\(tenantTables.sorted())")
        let statements = log.all
        #expect(statements.count > 150, "the workload ran the server's statements (\(statements.count))")
        var unfiltered: [String] = []
        var touched: Set<String> = []
        for statement in statements.sorted() {
            let tables = Set(statement.matches(of: /(?i)\b(?:FROM|JOIN|UPDATE|INTO)\s+([a-z_]+)/).map { String($0.output.1) })
                .intersection(tenantTables)
            touched.formUnion(tables)
            guard !tables.isEmpty, !statement.contains("tenant_id"),
                  !Self.reachedThroughATenantKey.contains(where: { statement.contains($0.piece) }) else { continue }
            unfiltered.append(statement)
        }
        #expect(touched.count >= 12, "the workload reached most tenant tables: \(touched.sorted())")
        for statement in unfiltered {
            Issue.record("a statement on a tenant table has no tenant filter: \(statement)")
        }
    }

    /// The admin API end to end and two agents' device protocol, touching every resource.
    static func exerciseEverything(_ server: TestServer) async throws {
        try await server.createUser("ada@example.com", role: "administrator")
        let users = try await server.api(.GET, "/api/v1/users")
        let userId = try #require(users["users"]?.arrayValue?.compactMap { $0.objectValue }.first { $0["email"] == "ada@example.com" }?["id"]?.stringValue)
        try await server.must(.PATCH, "/api/v1/users/\(userId)", ["role": "readOnlyOperator"])
        let apiToken = try await server.must(.POST, "/api/v1/api-tokens", ["name": "ci", "role": "readOnlyOperator", "expiresInDays": 30])
        try await server.must(.DELETE, "/api/v1/api-tokens/\(try #require(apiToken.objectValue?["apiToken"]?.objectValue?["id"]?.stringValue))")

        let token = try await server.createEnrollmentToken(allowReenrollment: true)
        let alpha = try await TestAgent.enroll(server, name: "alpha", token: token, tags: ["rack-7"])
        let bravo = try await TestAgent.enroll(server, name: "bravo", token: token)
        let refused = try await server.api(.POST, "/device/v1/enroll", ["enrollmentToken": "pet_wrong", "publicKey": "x"])
        #expect(refused.status >= 400)

        let servers = try await server.createGroup("servers", members: [alpha.deviceId])
        let dynamic = try await server.must(.POST, "/api/v1/groups", ["name": "linux", "membershipRule": "device.platform -eq \"linux\""])
        let dynamicId = try #require(dynamic.objectValue?["id"]?.stringValue)
        let outer = try await server.createGroup("outer", members: [])
        try await server.must(.POST, "/api/v1/groups/\(outer)/members", ["groupIds": [.string(servers)], "deviceIds": [.string(bravo.deviceId)]])
        try await server.must(.DELETE, "/api/v1/groups/\(outer)/members/\(bravo.deviceId)")
        // The admin pages' own reads and forms (a member added by device name and by id).
        try await server.createUser("grace@example.com", role: "administrator")
        let browser = PageClient(server: server)
        defer { browser.close() }
        #expect(try await browser.signIn("grace@example.com", "not her password").status != 303)
        #expect(try await browser.signIn("grace@example.com", AdminCenterTests.password).status == 303)
        #expect(try await browser.post("/groups/\(outer)/members", ["devices": "alpha, \(bravo.deviceId)", "nestedGroup": ""]).status == 303)
        #expect(try await browser.post("/groups/\(outer)/members/\(bravo.deviceId)/remove", [:]).status == 303)
        for path in ["/", "/devices", "/groups", "/groups/\(outer)", "/devices/\(alpha.deviceId)"] {
            #expect(try await browser.get(path).status == 200, "\(path)")
        }
        try await server.must(.PUT, "/api/v1/groups/\(dynamicId)", ["membershipRule": "device.platform -eq \"linux\" -and device.name -ne \"zulu\"", "name": "linux all"])
        try await server.must(.POST, "/api/v1/groups/preview", ["membershipRule": "device.tags -contains \"rack-7\""])
        _ = try await server.must(.GET, "/api/v1/groups/\(outer)/members")
        _ = try await server.must(.GET, "/api/v1/groups")

        let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true, "cloudService.cloudBlockLevel": "high"])
        try await server.assign(policy, include: [outer], exclude: [])
        try await server.must(.POST, "/api/v1/policies/\(policy)/preview", ["settings": ["cloudService.enabled": false]])
        try await server.must(.PUT, "/api/v1/policies/\(policy)", ["name": "AV", "platform": "linux", "template": "antivirus",
                                                                  "settings": ["cloudService.enabled": true, "cloudService.cloudBlockLevel": "moderate"]])
        for agent in [alpha, bravo] { try await agent.sync() }
        try await server.must(.POST, "/api/v1/policies/\(policy)/rollback/preview", ["revision": 1])
        try await server.must(.POST, "/api/v1/policies/\(policy)/rollback", ["revision": 1])
        for agent in [alpha, bravo] { try await agent.sync() }
        let second = try await server.createPolicy("Second", settings: ["cloudService.enabled": false])
        try await server.assign(second, include: [dynamicId])
        for agent in [alpha, bravo] { try await agent.sync() }

        try await server.must(.PATCH, "/api/v1/devices/\(bravo.deviceId)", ["tags": ["lab"]])
        try await server.must(.POST, "/api/v1/devices/\(alpha.deviceId)/sync")
        try await server.must(.POST, "/api/v1/groups/\(outer)/sync")
        try await alpha.sync()
        try await server.must(.PUT, "/api/v1/settings/enforcement", ["platforms": ["linux": true, "macos": true, "windows": true, "windowsServer": true], "scope": "tagged", "tag": "rack-7"])
        try await server.must(.PUT, "/api/v1/settings/enforcement", ["platforms": ["linux": true, "macos": true, "windows": true, "windowsServer": true], "scope": "all"])
        try await server.must(.PUT, "/api/v1/settings/devices", ["staleAfterDays": 30])

        for path in ["/api/v1/devices", "/api/v1/devices?search=alpha", "/api/v1/devices?state=succeeded", "/api/v1/devices?group=\(outer)",
                     "/api/v1/devices/\(alpha.deviceId)", "/api/v1/devices/\(alpha.deviceId)/effective", "/api/v1/devices/\(alpha.deviceId)/settings",
                     "/api/v1/devices/\(alpha.deviceId)/history", "/api/v1/policies", "/api/v1/policies/\(policy)",
                     "/api/v1/policies/\(policy)/report", "/api/v1/policies/\(policy)/report?format=csv", "/api/v1/policies/\(policy)/settings-report",
                     "/api/v1/policies/\(policy)/settings-report?settingId=cloudService.enabled", "/api/v1/policies/\(policy)/revisions",
                     "/api/v1/policies/\(policy)/revisions/2", "/api/v1/policies/\(policy)/revisions/3/diff", "/api/v1/reports/overview",
                     "/api/v1/reports/drift", "/api/v1/reports/enrollment", "/api/v1/reports/enrollment?format=csv", "/api/v1/reports/enrollment/refused",
                     "/api/v1/audit", "/api/v1/audit?action=policy.update", "/api/v1/enrollment-tokens", "/api/v1/settings/enforcement",
                     "/api/v1/settings/devices", "/api/v1/users/\(userId)"] {
            let answer = try await server.api(.GET, path)
            #expect(answer.status == 200, "\(path): \(answer.status) \(answer.body)")
        }

        try await server.must(.DELETE, "/api/v1/policies/\(second)")
        try await server.must(.DELETE, "/api/v1/groups/\(dynamicId)")
        try await server.must(.DELETE, "/api/v1/devices/\(bravo.deviceId)")
        try await server.must(.DELETE, "/api/v1/users/\(userId)")
        let tokens = try await server.api(.GET, "/api/v1/enrollment-tokens")
        for id in tokens["enrollmentTokens"]?.arrayValue?.compactMap({ $0.objectValue?["id"]?.stringValue }) ?? [] {
            try await server.must(.DELETE, "/api/v1/enrollment-tokens/\(id)")
        }
    }
}

/// The tenant filters must not change how SQLite finds rows: with `tenant_id = ?` beside a
/// key (`device_id IN (...)`), SQLite without statistics may prefer an index that starts with
/// `tenant_id` and walk the whole tenant (issue 18 found statements scanning 476,000 rows
/// that way; `sql.tenantColumnBesideKeys` writes the filter `+tenant_id` there). So every
/// statement the workload runs with a bound key is planned, and none may find its rows by the
/// tenant alone or by scanning a table.
extension TenantFilterTests {
    /// Statements whose tenant-wide walk is the intended plan, by a piece of their text.
    static let walksTheTenantOnPurpose: [(piece: String, why: String)] = [
        ("FROM device_policy_targets t JOIN devices d ON d.id = t.device_id LEFT JOIN device_reports r",
         "a policy report's page: walks the tenant's devices in the page's order (name, id) and probes each one's target by key, stopping at the page's end"),
        ("DELETE FROM group_members WHERE group_id IN (SELECT id FROM device_groups WHERE membership_rule IS NOT NULL)", "migration, once over every tenant"),
    ]

    @Test func noStatementWithAKeyFindsItsRowsByTheTenantAlone() async throws {
        let log = StatementLog()
        let plans = try await TestServer.with(.sqlite, statements: log) { server in
            try await Self.exerciseEverything(server)
            return try await server.sql { sql in
                var plans: [(statement: String, plan: [String])] = []
                for statement in log.all.sorted()
                where statement.contains(/(?i)\b(?:id|device_id|policy_id|group_id|parent_id|child_id)\s*(?:=\s*\?|IN\s*\(\s*\?)/)
                    && !Self.walksTheTenantOnPurpose.contains(where: { statement.contains($0.piece) }) {
                    let plan = try await sql.raw("EXPLAIN QUERY PLAN \(unsafeRaw: statement)").all().map { try $0.decode(column: "detail", as: String.self) }
                    plans.append((statement, plan))
                }
                return plans
            }
        }
        #expect(plans.count > 60, "the workload ran statements with keys (\(plans.count))")
        for (statement, plan) in plans {
            let tenantOnly = plan.filter { $0.contains(/USING (?:COVERING )?INDEX \S+ \(tenant_id=\?\)$/) }
            // A table or its alias read end to end ("SCAN 3-ROW VALUES CLAUSE" is the statement's own rows).
            let scans = plan.filter { $0.contains(/^SCAN [a-z_]+(?: |$)/) }
            if !tenantOnly.isEmpty || !scans.isEmpty {
                Issue.record("a statement with a key finds its rows by the tenant alone or by a scan: \(statement)\n  plan: \(plan)")
            }
        }
    }
}

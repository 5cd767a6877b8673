import Foundation
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// Issue 10's reports over a real server and store: states stored at report ingest and
/// recompute, filters, paging, exports and their escaping, history, overview, device filters.
/// Errors come from reports injected as the agent would send them when Defender refuses a
/// setting (no Defender here): those tests say "injected".
@Suite struct ReportsAPITests {
    /// Three Linux agents in one group with a two-setting policy, all synced and reported.
    /// `charlie`'s name is hostile to spreadsheets: quotes, a comma and a leading `=`.
    static let hostileName = "=cmd|' -C calc'!A0,\"x\""

    struct Fleet {
        var agents: [TestAgent]
        var group: String
        var policy: String
        var tenant: String
    }

    static func fleet(_ server: TestServer) async throws -> Fleet {
        let token = try await server.createEnrollmentToken()
        var agents: [TestAgent] = []
        for name in ["alpha", "bravo", hostileName] {
            agents.append(try await TestAgent.enroll(server, name: name, token: token))
        }
        let group = try await server.createGroup("servers", members: agents.map(\.deviceId))
        let policy = try await server.createPolicy("Baseline", settings: ["cloudService.enabled": true, "antivirusEngine.enforcementLevel": "real_time"])
        try await server.assign(policy, include: [group])
        for agent in agents { try await agent.sync() }
        let tenant = try #require(try await server.store.deviceCredentials(deviceId: agents[0].deviceId)?.tenantId)
        return Fleet(agents: agents, group: group, policy: policy, tenant: tenant)
    }

    /// What the agent sends when Defender refuses one setting (injected: no Defender here).
    static func injectError(_ server: TestServer, _ fleet: Fleet, device: String, setting: String, message: String) async throws {
        let hash = try #require(try await server.store.configurationHash(deviceId: device))
        let results = ["cloudService.enabled", "antivirusEngine.enforcementLevel"].map { id in
            id == setting ? DeviceProtocol.SettingResult(settingId: id, state: .error, detail: message) : DeviceProtocol.SettingResult(settingId: id, state: .succeeded)
        }
        _ = try await server.store.recordReport(deviceId: device, tenant: fleet.tenant, report: .init(configurationHash: hash, results: results))
    }

    static func deviceIds(_ body: JSONValue, _ key: String = "devices") -> [String] {
        let items: [JSONValue] = body.objectValue?[key]?.arrayValue ?? []
        return items.compactMap { (item: JSONValue) -> String? in
            let object: [String: JSONValue] = item.objectValue ?? [:]
            return object["deviceId"]?.stringValue ?? object["id"]?.stringValue
        }
    }

    @Test(arguments: StoreEngine.available)
    func policyReportFiltersPagesAndExportsEveryRowWithInjectedError(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let fleet = try await Self.fleet(server)
            let (alpha, bravo, charlie) = (fleet.agents[0].deviceId, fleet.agents[1].deviceId, fleet.agents[2].deviceId)
            var report = try await server.report(fleet.policy)
            #expect(report["summary"]?.objectValue?["succeeded"] == 3)

            try await Self.injectError(server, fleet, device: bravo, setting: "cloudService.enabled", message: "Defender refused: tamper protection")
            report = try await server.report(fleet.policy)
            #expect(report["summary"]?.objectValue?["succeeded"] == 2)
            #expect(report["summary"]?.objectValue?["error"] == 1)

            // Filter by state, search by name (case-insensitive), both over the stored states.
            let errors = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/report?state=error")
            #expect(Self.deviceIds(errors.body) == [bravo])
            #expect(errors["summary"]?.objectValue?["succeeded"] == 2, "the summary always counts every targeted device")
            #expect(Self.deviceIds(try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/report?search=LPH").body) == [alpha])
            #expect(Self.deviceIds(try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/report?search=a&state=error").body) == [bravo])

            // Paging across pages, by name then id: "=cmd..." sorts before "alpha".
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/report?limit=1" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == 200)
                #expect(Self.deviceIds(page.body).count == 1)
                seen += Self.deviceIds(page.body)
                cursor = page["nextCursor"]?.stringValue
            } while cursor != nil
            #expect(seen == [charlie, alpha, bravo])

            // CSV: every row, attachment, escaped, formula neutralised.
            let csv = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/report?format=csv&limit=1")
            #expect(csv.status == 200)
            #expect(csv.headers.first(name: "Content-Type")?.hasPrefix("text/csv") == true)
            #expect(csv.headers.first(name: "Content-Disposition")?.hasPrefix("attachment; filename=") == true)
            let text = try #require(csv.body.stringValue)
            let lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)
            #expect(lines.count == 4, "a header and every device, not one page: \(text)")
            #expect(lines.first == "deviceId,deviceName,state,revision,lastReportAt,stale")
            #expect(lines.contains { $0.hasPrefix("\(charlie),\"'=cmd|' -C calc'!A0,\"\"x\"\"\",succeeded,1,") })
            #expect(lines.contains { $0.hasPrefix("\(bravo),bravo,error,1,") })
            let viaAccept = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/report?state=error", headers: ["Accept": "text/csv"])
            #expect(viaAccept.body.stringValue?.split(separator: "\r\n").count == 2)

            // JSON export: every matching row as an array.
            let json = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/report?format=json&limit=1")
            #expect(json.headers.first(name: "Content-Disposition")?.contains(".json") == true)
            #expect(json.body.arrayValue?.count == 3)

            // Bad values name their parameter.
            for (query, field) in [("state=broken", "state"), ("format=xml", "format"), ("cursor=nonsense", "cursor"), ("search=", "search"), ("limit=0", "limit")] {
                let bad = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/report?\(query)")
                #expect(bad.status == 400, "\(query)")
                #expect(bad["error"]?.objectValue?["details"]?.objectValue?["field"]?.stringValue == field, "\(query): \(bad.body)")
            }
            #expect(try await server.api(.GET, "/api/v1/policies/nope/report?format=csv").status == 404)
        }
    }

    @Test(arguments: StoreEngine.available)
    func settingsReportCountsEachSettingAndListsTheDevicesInOneStateWithInjectedError(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let fleet = try await Self.fleet(server)
            let bravo = fleet.agents[1].deviceId
            try await Self.injectError(server, fleet, device: bravo, setting: "cloudService.enabled", message: "refused")
            let report = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report")
            #expect(report.status == 200)
            let settings = report["settings"]?.arrayValue ?? []
            #expect(settings.compactMap { $0.objectValue?["settingId"]?.stringValue } == ["antivirusEngine.enforcementLevel", "cloudService.enabled"])
            #expect(settings.first?.objectValue?["summary"]?.objectValue?["succeeded"] == 3)
            #expect(settings.last?.objectValue?["summary"]?.objectValue?["succeeded"] == 2)
            #expect(settings.last?.objectValue?["summary"]?.objectValue?["error"] == 1)

            let inError = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?settingId=cloudService.enabled&state=error")
            #expect(Self.deviceIds(inError.body) == [bravo])
            #expect(inError["devices"]?.arrayValue?.first?.objectValue?["state"] == "error")
            #expect(Self.deviceIds(try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?settingId=antivirusEngine.enforcementLevel&state=error").body).isEmpty)
            // Any state, paged.
            let first = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?settingId=cloudService.enabled&limit=2")
            #expect(Self.deviceIds(first.body).count == 2)
            let cursor = try #require(first["nextCursor"]?.stringValue)
            #expect(Self.deviceIds(try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?settingId=cloudService.enabled&limit=2&cursor=\(cursor)").body).count == 1)

            let csv = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?format=csv")
            #expect(csv.body.stringValue == "settingId,succeeded,error,conflict,pending,notApplicable\r\nantivirusEngine.enforcementLevel,3,0,0,0,0\r\ncloudService.enabled,2,1,0,0,0\r\n")
            let devicesCSV = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?settingId=cloudService.enabled&state=error&format=csv")
            #expect(devicesCSV.body.stringValue?.split(separator: "\r\n").last?.hasPrefix("cloudService.enabled,\(bravo),bravo,error,1,") == true)

            let orphanState = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?state=error")
            #expect(orphanState.status == 400)
            #expect(orphanState["error"]?.objectValue?["details"]?.objectValue?["field"] == "state")
            #expect(try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?settingId=x&state=wrong").status == 400)
            #expect(try await server.api(.GET, "/api/v1/policies/unknown/settings-report").status == 404)
        }
    }

    @Test(arguments: StoreEngine.available)
    func deviceHistoryTellsWhenWhyAndOnWhichRevisionWithInjectedError(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let fleet = try await Self.fleet(server)
            let bravo = fleet.agents[1]
            try await Self.injectError(server, fleet, device: bravo.deviceId, setting: "cloudService.enabled", message: "Defender refused: tamper protection")
            // A conflicting policy through a second group: conflict, naming the other policy.
            let other = try await server.createGroup("bravo only", members: [bravo.deviceId])
            let rival = try await server.createPolicy("Rival", settings: ["antivirusEngine.enforcementLevel": "on_demand"])
            try await server.assign(rival, include: [other])
            // A new revision of the first policy.
            try await server.must(.PUT, "/api/v1/policies/\(fleet.policy)", [
                "name": "Baseline", "platform": "linux", "template": "antivirus", "settings": ["cloudService.enabled": true, "antivirusEngine.enforcementLevel": "real_time"],
            ])

            let history = try await server.api(.GET, "/api/v1/devices/\(bravo.deviceId)/history?limit=1000")
            #expect(history.status == 200)
            let events = history["events"]?.arrayValue?.compactMap(\.objectValue) ?? []
            func find(_ kind: String, _ subject: String, _ new: String?) -> [String: JSONValue]? {
                events.first { $0["kind"]?.stringValue == kind && $0["subjectId"]?.stringValue == subject && $0["newState"]?.stringValue == new }
            }
            let targeted = try #require(events.last, "oldest last")
            #expect(targeted["subjectId"]?.stringValue == fleet.policy)
            #expect(targeted["oldState"] == nil)
            #expect(targeted["newState"] == "pending")
            #expect(targeted["revision"] == 1)
            #expect(targeted["reason"]?.stringValue?.contains("revision 1") == true)
            #expect(find("policyState", fleet.policy, "succeeded")?["oldState"] == "pending")
            let failed = try #require(find("policyState", fleet.policy, "error"))
            #expect(failed["reason"]?.stringValue?.contains("Defender refused: tamper protection") == true)
            #expect(find("settingState", "cloudService.enabled", "error")?["reason"] == "Defender refused: tamper protection")
            let conflict = try #require(find("policyState", fleet.policy, "conflict"))
            #expect(conflict["reason"]?.stringValue?.contains("\"Rival\"") == true, "\(conflict)")
            #expect(find("settingState", "antivirusEngine.enforcementLevel", "conflict") != nil)
            // The new revision is an event even though the policy stays in conflict; the error
            // Events of one transaction share a time.
            let newestTime = try #require(events.first?["at"])
            let newest = events.filter { $0["at"] == newestTime }
            let revised = try #require(newest.first { $0["kind"] == "policyState" })
            #expect(revised["revision"] == 2)
            #expect(revised["oldState"] == "conflict")
            #expect(revised["newState"] == "conflict")
            #expect(revised["reason"]?.stringValue?.hasPrefix("new revision delivered: revision 2; antivirusEngine.enforcementLevel: conflict with policy \"Rival\"") == true, "\(revised)")
            // The failed setting left error when a new configuration reached the device.
            #expect(events.contains { $0["subjectId"] == "cloudService.enabled" && $0["oldState"] == "error" && $0["newState"] == "pending" })
            // Nothing changed on alpha beyond its own path: four events at most, none of Rival.
            let alphaHistory = try await server.api(.GET, "/api/v1/devices/\(fleet.agents[0].deviceId)/history")
            #expect(alphaHistory["events"]?.arrayValue?.allSatisfy { $0.objectValue?["subjectId"]?.stringValue != rival } == true)

            // Paging newest first, across pages, gives the same events.
            var paged: [String] = []
            var cursor: String?
            repeat {
                let page = try await server.api(.GET, "/api/v1/devices/\(bravo.deviceId)/history?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                paged += page["events"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } ?? []
                cursor = page["nextCursor"]?.stringValue
            } while cursor != nil
            #expect(paged == events.compactMap { $0["id"]?.stringValue })

            let csv = try await server.api(.GET, "/api/v1/devices/\(bravo.deviceId)/history?format=csv")
            #expect(csv.body.stringValue?.split(separator: "\r\n").count == events.count + 1)
            #expect(try await server.api(.GET, "/api/v1/devices/\(bravo.deviceId)/history?cursor=bad").status == 400)
            #expect(try await server.api(.GET, "/api/v1/devices/nope/history").status == 404)
        }
    }

    @Test(arguments: StoreEngine.available)
    func overviewCountsDevicesAndPoliciesByStateWithInjectedError(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let fleet = try await Self.fleet(server)
            try await Self.injectError(server, fleet, device: fleet.agents[1].deviceId, setting: "cloudService.enabled", message: "refused")
            let token = try await server.createEnrollmentToken()
            let mac = try await TestAgent.enroll(server, name: "mac", token: token, platform: .macos)
            try await mac.sync()
            try await server.must(.DELETE, "/api/v1/devices/\(fleet.agents[0].deviceId)")

            let overview = try await server.api(.GET, "/api/v1/reports/overview")
            #expect(overview.status == 200)
            #expect(overview["devicesByPlatform"] == ["linux": 2, "macos": 1])
            #expect(overview["devicesByState"] == ["succeeded": 2, "error": 1], "\(overview.body)")
            #expect(overview["retiredDevices"] == 1)
            #expect(overview["devicesNeedingAttentionCount"] == 1)
            #expect(Self.deviceIds(overview.body, "devicesNeedingAttention") == [fleet.agents[1].deviceId])
            let policies = overview["policies"]?.arrayValue ?? []
            #expect(policies.count == 1)
            #expect(policies.first?.objectValue?["summary"]?.objectValue?["error"] == 1)
            #expect(policies.first?.objectValue?["summary"]?.objectValue?["succeeded"] == 1, "the retired device no longer counts")
            #expect(overview["policiesWithErrors"] == 1)
            #expect(try await server.api(.GET, "/api/v1/reports/overview?limit=5000").status == 400)
        }
    }

    @Test(arguments: StoreEngine.available)
    func deviceListFiltersBySearchPlatformStateTagAndGroupWithInjectedError(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let fleet = try await Self.fleet(server)
            let (alpha, bravo, charlie) = (fleet.agents[0].deviceId, fleet.agents[1].deviceId, fleet.agents[2].deviceId)
            try await Self.injectError(server, fleet, device: bravo, setting: "cloudService.enabled", message: "refused")
            let token = try await server.createEnrollmentToken()
            let mac = try await TestAgent.enroll(server, name: "Mac-Alpha", token: token, platform: .macos, tags: ["Kiosk"])
            try await server.must(.PATCH, "/api/v1/devices/\(alpha)", ["tags": ["prod"]])
            let parent = try await server.must(.POST, "/api/v1/groups", ["name": "parent", "groups": [.string(fleet.group)]])
            let parentId = try #require(parent.objectValue?["id"]?.stringValue)
            let dynamic = try await server.must(.POST, "/api/v1/groups", ["name": "macs", "membershipRule": "device.platform -eq \"macos\""])
            let dynamicId = try #require(dynamic.objectValue?["id"]?.stringValue)

            func ids(_ query: String) async throws -> [String] {
                let response = try await server.api(.GET, "/api/v1/devices?\(query)")
                #expect(response.status == 200, "\(query): \(response.body)")
                return Self.deviceIds(response.body)
            }
            #expect(try await ids("search=ALPHA").sorted() == [alpha, mac.deviceId].sorted())
            #expect(try await ids("platform=macos") == [mac.deviceId])
            #expect(try await ids("state=error") == [bravo])
            #expect(try await ids("state=succeeded").sorted() == [alpha, charlie].sorted())
            #expect(try await ids("tag=PROD") == [alpha])
            #expect(try await ids("tag=kiosk") == [mac.deviceId], "agent tags count too")
            #expect(try await ids("tag=pro").isEmpty, "a tag matches whole")
            #expect(try await ids("group=\(fleet.group)").sorted() == [alpha, bravo, charlie].sorted())
            #expect(try await ids("group=\(parentId)").sorted() == [alpha, bravo, charlie].sorted(), "members of nested groups")
            #expect(try await ids("group=\(dynamicId)") == [mac.deviceId])
            #expect(try await ids("group=\(fleet.group)&state=succeeded&search=lph") == [alpha])
            let listed = try await server.api(.GET, "/api/v1/devices?state=error")
            #expect(listed["devices"]?.arrayValue?.first?.objectValue?["reportState"] == "error")

            // Keyset paging with a filter, across pages.
            for filter in ["platform=linux", "group=\(fleet.group)"] {
                var seen: [String] = []
                var cursor: String?
                repeat {
                    let page = try await server.api(.GET, "/api/v1/devices?\(filter)&limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                    seen += Self.deviceIds(page.body)
                    cursor = page["nextCursor"]?.stringValue
                } while cursor != nil
                #expect(seen == [alpha, bravo, charlie].sorted(), "\(filter)")
            }

            for (query, field) in [("platform=beos", "platform"), ("state=fine", "state"), ("group=nope", "group"), ("search=", "search")] {
                let bad = try await server.api(.GET, "/api/v1/devices?\(query)")
                #expect(bad.status == 400, "\(query)")
                #expect(bad["error"]?.objectValue?["details"]?.objectValue?["field"]?.stringValue == field, "\(query): \(bad.body)")
            }
        }
    }

    /// Migration 8 on a store that had configurations and reports before it: the migration is
    /// undone by hand (its indexes, table and columns dropped, its row deleted), applied again,
    /// and the reports read the backfilled states.
    @Test(arguments: StoreEngine.available)
    func migrationEightBackfillsStatesFromStoredConfigurationsAndReportsWithInjectedError(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let fleet = try await Self.fleet(server)
            let bravo = fleet.agents[1].deviceId
            try await Self.injectError(server, fleet, device: bravo, setting: "cloudService.enabled", message: "refused")
            try await server.store.backend.write(lockKey: "test") { sql in
                for statement in [
                    "DROP INDEX device_policy_targets_state", "DROP INDEX devices_report_state", "DROP INDEX devices_name", "DROP INDEX devices_platform",
                    "DROP INDEX device_history_device", "DROP TABLE device_history",
                    "ALTER TABLE device_policy_targets DROP COLUMN state", "ALTER TABLE device_policy_targets DROP COLUMN setting_states",
                    "ALTER TABLE devices DROP COLUMN report_state", "DELETE FROM palisade_migrations WHERE version = 8",
                ] {
                    try await sql.raw(SQLQueryString(statement)).run()
                }
            }
            #expect(try await server.store.migrate() == [8])
            let report = try await server.report(fleet.policy)
            #expect(report["summary"]?.objectValue?["succeeded"] == 2)
            #expect(report["summary"]?.objectValue?["error"] == 1)
            let settings = try await server.api(.GET, "/api/v1/policies/\(fleet.policy)/settings-report?settingId=cloudService.enabled&state=error")
            #expect(Self.deviceIds(settings.body) == [bravo])
            #expect(Self.deviceIds(try await server.api(.GET, "/api/v1/devices?state=error").body) == [bravo])
            #expect(try await server.count("device_history") == 0, "a backfill invents no history")
        }
    }

    /// Every built-in role holds readReports and readDevices (docs/PERMISSIONS.md), so no role
    /// is refused here; a caller without a token is, and `TrustTests` checks every route
    /// against every role from the route table.
    @Test(arguments: StoreEngine.available)
    func reportsNeedAnAuthenticatedCallerWithReadReports(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, policy) = try await TestAgent.enrolledWithPolicy(server)
            let routes = ["/api/v1/policies/\(policy)/report", "/api/v1/policies/\(policy)/settings-report", "/api/v1/devices/\(agent.deviceId)/history",
                          "/api/v1/reports/overview", "/api/v1/devices?state=pending"]
            for route in routes {
                #expect(try await server.api(.GET, route, token: "").status == 401, "\(route)")
                #expect(try await server.api(.GET, route + (route.contains("?") ? "&" : "?") + "format=csv", token: "").status == 401, "\(route)")
            }
            let helpDesk = try #require(try await server.must(.POST, "/api/v1/api-tokens", ["name": "desk", "role": "helpDeskOperator"]).objectValue?["token"]?.stringValue)
            for route in routes {
                #expect(try await server.api(.GET, route, token: helpDesk).status == 200, "\(route)")
            }
            #expect(Role.allCases.allSatisfy { $0.allows(.readReports) && $0.allows(.readDevices) })
        }
    }
}

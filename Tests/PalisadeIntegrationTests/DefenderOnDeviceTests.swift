import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// Defender on the device, end to end: its presence and health reach the server, the states
/// mean what they say (docs/STATES.md), drift is reported, rules read Defender. Defender cannot
/// be installed here, so every test that needs it runs a STAND-IN `mdatp` (or `powershell`) on
/// the agent's tool path (Support/DefenderStandIn.swift); the test names say so.
@Suite struct DefenderOnDeviceTests {
    static func setting(_ server: TestServer, device: String, _ id: String) async throws -> [String: JSONValue] {
        let settings = try await server.api(.GET, "/api/v1/devices/\(device)/settings")
        let found: [String: JSONValue]? = settings.body.arrayValue?.compactMap(\.objectValue).first { $0["settingId"]?.stringValue == id }
        return try #require(found)
    }

    @Test(arguments: StoreEngine.available)
    func deviceWithoutDefenderIsPendingWithTheReasonAndShownNotInstalled(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let agent = try await TestAgent.enroll(server, name: "bare", token: try await server.createEnrollmentToken(), defender: nil)
            let group = try await server.createGroup("g", members: [agent.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            try await agent.sync()

            #expect(try agent.managedValue("cloudService.enabled") == true, "the managed file is written all the same")
            let setting = try await Self.setting(server, device: agent.deviceId, "cloudService.enabled")
            #expect(setting["state"] == "pending", "not succeeded: nothing takes the setting")
            #expect(setting["detail"]?.stringValue?.contains("not installed") == true, "\(setting)")
            let report = try await server.report(policy)
            #expect(report["summary"]?.objectValue?["pending"] == 1)
            #expect(report["summary"]?.objectValue?["succeeded"] == 0)

            let device = try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")
            #expect(device["defenderSummary"] == "Defender not installed")
            #expect(device["defenderInstalled"] == false)
            #expect(device["defender"]?.objectValue?["installed"] == false)
            #expect(device["defender"]?.objectValue?["detail"]?.stringValue?.contains("mdatp was not found") == true)

            // The enrollment report says so beside the device, in JSON and in the CSV export.
            let enrollment = try await server.api(.GET, "/api/v1/reports/enrollment")
            let row = try #require(enrollment["devices"]?.arrayValue?.first { $0.objectValue?["deviceId"]?.stringValue == agent.deviceId }?.objectValue)
            #expect(row["defender"] == "Defender not installed")
            let csv = try await server.api(.GET, "/api/v1/reports/enrollment?format=csv")
            #expect(csv.body.stringValue?.contains("bare,linux,enrolled,") == true)
            #expect(csv.body.stringValue?.contains("Defender not installed") == true)
        }
    }

    @Test(arguments: StoreEngine.available)
    func standInHealthyDefenderWithThePolicyValuesMakesSucceededAndReachesTheDevicePage(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let answer = DefenderStandIn.linux(["real_time_protection_enabled": ["value": true, "scope": "managed"], "passive_mode_enabled": false, "cloud_enabled": true])
            let agent = try await TestAgent.enroll(server, name: "protected", token: try await server.createEnrollmentToken(), defender: answer)
            let group = try await server.createGroup("g", members: [agent.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["antivirusEngine.enforcementLevel": "real_time", "cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            try await agent.sync()

            let report = try await server.report(policy)
            #expect(report["summary"]?.objectValue?["succeeded"] == 1, "\(report.body)")
            let device = try #require(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)").body.objectValue)
            let defender = try #require(device["defender"]?.objectValue)
            #expect(defender["installed"] == true)
            #expect(defender["healthy"] == true)
            #expect(defender["version"] == "101.24092.0002")
            #expect(defender["organizationId"] == "8a7c0e4e-2f6b-4d3a-9c1e-5b2d7f3a9e10")
            #expect(defender["definitionsVersion"] == "1.417.472.0")
            #expect(defender["realTimeProtectionEnabled"] == true)
            #expect(defender["tamperProtection"] == "block", "a wrapped {value, scope} field is read")
            #expect(defender["definitionsUpdatedAt"]?.stringValue != nil)
            #expect(device["defenderSummary"] == "Defender healthy")

            // Unhealthy, with Defender's own issues: the device page follows on the next check-in.
            var unhealthy = answer.objectValue!
            unhealthy["healthy"] = false
            unhealthy["health_issues"] = ["no active event provider"]
            try agent.tools.answer(.object(unhealthy))
            try await agent.sync()
            let after = try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")
            #expect(after["defender"]?.objectValue?["healthIssues"] == ["no active event provider"])
            #expect(after["defenderSummary"] == "Defender unhealthy: no active event provider")
        }
    }

    @Test(arguments: StoreEngine.available)
    func standInReportingAnotherRealTimeValueMakesAnErrorNamingBothValues(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let answer = DefenderStandIn.linux(["real_time_protection_enabled": false, "passive_mode_enabled": false])
            let agent = try await TestAgent.enroll(server, name: "overridden", token: try await server.createEnrollmentToken(), defender: answer)
            let group = try await server.createGroup("g", members: [agent.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["antivirusEngine.enforcementLevel": "real_time", "cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            try await agent.sync()

            let level = try await Self.setting(server, device: agent.deviceId, "antivirusEngine.enforcementLevel")
            #expect(level["state"] == "error")
            let detail = level["detail"]?.stringValue ?? ""
            #expect(detail.contains("\"on_demand\"") && detail.contains("\"real_time\""), "names what Defender has and what the policy sets: \(detail)")
            #expect(detail.contains("real_time_protection_enabled false"), "\(detail)")
            let cloud = try await Self.setting(server, device: agent.deviceId, "cloudService.enabled")
            #expect(cloud["state"] == "succeeded", "Defender reports no cloud_enabled here: nothing to compare")
            #expect(try await server.report(policy)["summary"]?.objectValue?["error"] == 1)

            // Defender takes the value (someone turned real-time protection back on): the next
            // cycle re-checks without re-writing anything, and the error clears.
            try agent.tools.answer(DefenderStandIn.linux(["real_time_protection_enabled": true, "passive_mode_enabled": false]))
            try await agent.sync()
            #expect(try await Self.setting(server, device: agent.deviceId, "antivirusEngine.enforcementLevel")["state"] == "succeeded")
        }
    }

    @Test(arguments: StoreEngine.available)
    func installingDefenderTurnsPendingIntoSucceededAndMovesTheDeviceOutOfTheUnprotectedGroup(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let protected = try await TestAgent.enroll(server, name: "protected", token: token)
            let bare = try await TestAgent.enroll(server, name: "bare", token: token, defender: nil)
            let rule = "device.defender.installed -eq false"
            let created = try await server.must(.POST, "/api/v1/groups", ["name": "unprotected", "membershipRule": .string(rule)])
            let groupId: String? = created.objectValue?["id"]?.stringValue
            let group = try #require(groupId)
            #expect(created.objectValue?["memberCount"] == 1)
            let members = try await server.api(.GET, "/api/v1/groups/\(group)/members")
            #expect(members["devices"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } == [bare.deviceId])
            let healthy = try await server.api(.POST, "/api/v1/groups/preview", ["membershipRule": #"device.defender.healthy -eq true -and device.defender.version -startsWith "101.""#])
            #expect(healthy["count"] == 1)

            let everyone = try await server.createGroup("all", members: [protected.deviceId, bare.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [everyone])
            for agent in [protected, bare] { try await agent.sync() }
            #expect(try await server.report(policy)["summary"]?.objectValue?["pending"] == 1)

            // Defender arrives on the bare device: its next check-in says so, through the directory.
            try bare.tools.install(answering: DefenderStandIn.healthyLinux)
            try await bare.sync()
            try await bare.sync()
            #expect(try await server.report(policy)["summary"]?.objectValue?["succeeded"] == 2)
            let after = try await server.api(.GET, "/api/v1/groups/\(group)/members")
            #expect(after["devices"]?.arrayValue?.isEmpty == true, "\(after.body)")
        }
    }

    @Test(arguments: StoreEngine.available)
    func handEditOfTheManagedFileIsRestoredAndAppearsInTheDriftReport(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, _) = try await TestAgent.enrolledWithPolicy(server, settings: ["cloudService.enabled": true, "antivirusEngine.enforcementLevel": "real_time"])
            try await agent.sync()
            #expect(try await server.api(.GET, "/api/v1/reports/drift")["events"] == [])

            // Someone edits the file by hand.
            var document = try #require(try agent.managedFile()?.objectValue)
            var cloud = try #require(document["cloudService"]?.objectValue)
            cloud["enabled"] = false
            document["cloudService"] = .object(cloud)
            try CanonicalJSON.data(JSONValue.object(document)).write(to: URL(fileURLWithPath: agent.managedFilePath))
            try await agent.sync()
            #expect(try agent.managedValue("cloudService.enabled") == true, "put back")

            let report = try await server.api(.GET, "/api/v1/reports/drift")
            #expect(report.status == 200)
            let eventList: [[String: JSONValue]]? = report["events"]?.arrayValue?.compactMap(\.objectValue)
            let events = try #require(eventList)
            #expect(events.count == 1, "\(report.body)")
            let event = try #require(events.first)
            #expect(event["deviceId"]?.stringValue == agent.deviceId)
            #expect(event["deviceName"] == "alpha")
            #expect(event["settingId"] == "cloudService.enabled")
            #expect(event["found"] == false)
            #expect(event["restored"] == true)
            #expect(event["detectedAt"]?.stringValue != nil)

            // Another cycle with nothing changed reports nothing new; a deleted file is one more event.
            try await agent.sync()
            try FileManager.default.removeItem(atPath: agent.managedFilePath)
            try await agent.sync()
            let second = try await server.api(.GET, "/api/v1/reports/drift?limit=1")
            #expect(second["events"]?.arrayValue?.count == 1)
            let next = try #require(second["nextCursor"]?.stringValue)
            let rest = try await server.api(.GET, "/api/v1/reports/drift?cursor=\(next)")
            let all = (second["events"]?.arrayValue ?? []) + (rest["events"]?.arrayValue ?? [])
            #expect(all.count == 3, "two settings missing from the deleted file, then the first edit: \(all)")
            #expect(rest["nextCursor"] == nil)
            let mine = try await server.api(.GET, "/api/v1/reports/drift?device=\(agent.deviceId)")
            #expect(mine["events"]?.arrayValue?.count == 3)
            // The device's history has each drift event once (the agent's resends do not repeat it).
            let history = try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)/history?limit=100")
            let drift = (history["events"]?.arrayValue ?? []).filter { $0.objectValue?["kind"] == "drift" }
            #expect(drift.count == 3, "\(drift)")
            #expect(drift.allSatisfy { $0.objectValue?["reason"]?.stringValue?.contains("restored") == true })

            // Refusals name the field; no token, no report.
            let badCursor = try await server.api(.GET, "/api/v1/reports/drift?cursor=nonsense")
            #expect(badCursor.status == 400)
            #expect(badCursor.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["field"] == "cursor")
            #expect(try await server.api(.GET, "/api/v1/reports/drift?limit=0").status == 400)
            #expect(try await server.api(.GET, "/api/v1/reports/drift?device=no-such-device").status == 404)
            #expect(try await server.api(.GET, "/api/v1/reports/drift", token: "").status == 401)
        }
    }

    @Test(arguments: StoreEngine.available)
    func stuckStandInMdatpTimesOutAndTheSettingsWait(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let agent = try await TestAgent.enroll(server, name: "stuck", token: try await server.createEnrollmentToken(), toolTimeout: .seconds(1))
            try agent.tools.hang()
            let group = try await server.createGroup("g", members: [agent.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            let clock = ContinuousClock()
            let started = clock.now
            try await agent.sync()
            // The stand-in hangs for 30 s; a cycle that waited for it would take that long. The
            // bound leaves room for a loaded two-core machine (14 s seen with builds beside it).
            #expect(clock.now - started < .seconds(20), "a hung mdatp costs the timeout, not the cycle")
            let setting = try await Self.setting(server, device: agent.deviceId, "cloudService.enabled")
            #expect(setting["state"] == "pending")
            #expect(setting["detail"]?.stringValue?.contains("did not answer within") == true, "\(setting)")
        }
    }

    @Test func standInMdatpRunsOncePerMinuteNotOnEveryCycle() async throws {
        try await TestServer.with(.sqlite) { server in
            let agent = try await TestAgent.enroll(server, name: "cached", token: try await server.createEnrollmentToken(), defenderMaximumAge: .seconds(60))
            let afterEnrollment = agent.tools.calls
            #expect(afterEnrollment == 1)
            for _ in 0..<3 { try await agent.sync() }
            #expect(agent.tools.calls == afterEnrollment, "the enrollment's reading is reused within the minute")
        }
    }

    @Test(arguments: StoreEngine.available)
    func standInPowerShellOnWindowsReportsHealthAndAnErrorNamingBothValues(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            var answer = try #require(DefenderStandIn.healthyWindows.objectValue)
            answer["RealTimeProtectionEnabled"] = false
            let agent = try await TestAgent.enroll(server, name: "win", token: try await server.createEnrollmentToken(), platform: .windows, defender: .object(answer))
            let group = try await server.createGroup("g", members: [agent.deviceId])
            let policy = try await server.createPolicy("Win AV", platform: "windows", settings: ["Defender/AllowRealtimeMonitoring": true, "Defender/AllowBehaviorMonitoring": true])
            try await server.assign(policy, include: [group])
            try await agent.sync()

            let realTime = try await Self.setting(server, device: agent.deviceId, "Defender/AllowRealtimeMonitoring")
            #expect(realTime["state"] == "error")
            #expect(realTime["detail"]?.stringValue?.contains("RealTimeProtectionEnabled false") == true, "\(realTime)")
            #expect(try await Self.setting(server, device: agent.deviceId, "Defender/AllowBehaviorMonitoring")["state"] == "succeeded")
            let defender = try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["defender"]?.objectValue
            #expect(defender?["version"] == "4.18.24050.7")
            #expect(defender?["tamperProtection"] == "block")
            #expect(defender?["definitionsUpdatedAt"] == "2024-06-04T08:06:00Z", "from ConvertTo-Json's \\/Date(ms)\\/")
        }
    }
}

/// The parsers against the shapes Microsoft documents (see DefenderStandIn for the sources).
@Suite struct DefenderOutputParserTests {
    @Test func mdatpHealthPlainAndWrappedValues() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let data = try CanonicalJSON.data(DefenderStandIn.linux(["passive_mode_enabled": ["value": true, "scope": "local"], "real_time_protection_enabled": true]))
        let observation = try #require(MdatpHealthParser.parse(data, now: now))
        #expect(observation.status.installed)
        #expect(observation.status.passiveMode == true)
        #expect(observation.status.realTimeProtectionEnabled == true)
        #expect(observation.status.definitionsUpdatedAt == Date(timeIntervalSince1970: 1_800_000_000 - 95 * 60).ISO8601Format())
        #expect(observation.fields["definitions_updated_minutes_ago"] == nil, "a counter that moves on every reading is not compared")
        #expect(EffectiveValues.mismatch(settingId: "antivirusEngine.enforcementLevel", expected: "passive", observation: observation) == nil)
        #expect(EffectiveValues.mismatch(settingId: "antivirusEngine.enforcementLevel", expected: "real_time", observation: observation)?.contains("\"passive\"") == true)
        #expect(MdatpHealthParser.parse(Data("ATTENTION: No license found".utf8), now: now) == nil)
    }

    @Test func getMpComputerStatusUnhealthy() throws {
        var answer = try #require(DefenderStandIn.healthyWindows.objectValue)
        answer["AMServiceEnabled"] = false
        answer["DefenderSignaturesOutOfDate"] = true
        answer["AMRunningMode"] = "Passive Mode"
        answer["AntivirusSignatureLastUpdated"] = "2024-06-04T08:06:27-07:00"
        let observation = try #require(MpComputerStatusParser.parse(try CanonicalJSON.data(JSONValue.object(answer)), now: Date(), organizationId: "org"))
        #expect(observation.status.healthy == false)
        #expect(observation.status.healthIssues?.count == 2)
        #expect(observation.status.passiveMode == true)
        #expect(observation.status.definitionsStatus == "out_of_date")
        #expect(observation.status.definitionsUpdatedAt == "2024-06-04T15:06:00Z", "PowerShell 7 writes ISO 8601")
        #expect(observation.status.organizationId == "org")
    }
}

import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// "Sync now": devices and groups asked to check in and report at once, with real agents.
@Suite struct SyncNowTests {
    /// The time of the device's last stored report.
    func reportedAt(_ server: TestServer, _ device: String) async throws -> Int64? {
        try await server.sql { sql in
            try await sql.raw("SELECT reported_at FROM device_reports WHERE device_id = \(bind: device)").first()?.decode(column: "reported_at", as: Int64.self)
        }
    }

    @Test(arguments: StoreEngine.available)
    func syncWakesALongPollingAgentWhichReportsAtOnce(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, _) = try await TestAgent.enrolledWithPolicy(server)
            try await agent.sync()
            let before = try #require(try await reportedAt(server, agent.deviceId))
            try await Task.sleep(for: .milliseconds(20))

            // Parked with an unchanged configuration; only the sync can answer it early.
            let (outcome, elapsed) = try await agent.checkIn(parkedOn: server, waitSeconds: 120) {
                let sync = try await server.api(.POST, "/api/v1/devices/\(agent.deviceId)/sync")
                #expect(sync.status == 202)
                #expect(sync["devices"] == 1)
            }
            guard case .applied(let report) = outcome else {
                Issue.record("expected the agent to re-apply and report, got \(outcome)")
                return
            }
            // Far below the 120 s wait, with room for a loaded two-core machine (15 s seen with
            // builds running beside the suite).
            #expect(elapsed < .seconds(60), "the report came at once, not at the end of the 120 s wait (took \(elapsed))")
            #expect(report.results.map(\.state) == [.succeeded])
            let after = try #require(try await reportedAt(server, agent.deviceId))
            #expect(after > before, "a new report arrived (the same content, a new time)")
            #expect(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["syncRequestedAt"] == nil, "the report answered the request")
            #expect(try await agent.sync() == .unchanged(hash: try #require(try await server.store.configurationHash(deviceId: agent.deviceId))), "answered once")

            let audit = try await server.api(.GET, "/api/v1/audit?action=device.sync")
            let events = try #require(audit["events"]?.arrayValue)
            #expect(events.count == 1)
            #expect(events.first?.objectValue?["target"]?.objectValue?["id"] == .string(agent.deviceId))
            #expect(events.first?.objectValue?["newValue"] == ["devices": 1])
            #expect(try await server.api(.POST, "/api/v1/devices/nope/sync").status == 404)
        }
    }

    @Test(arguments: StoreEngine.available)
    func anOfflineDeviceSyncsOnItsNextCheckIn(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, _) = try await TestAgent.enrolledWithPolicy(server)
            try await agent.sync()
            #expect(try await server.api(.POST, "/api/v1/devices/\(agent.deviceId)/sync").status == 202)
            let pending = try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")
            #expect(pending["syncRequestedAt"]?.stringValue != nil, "kept until the device reports")

            // The device comes back: its first check-in is answered with a report request.
            guard case .applied = try await agent.sync() else {
                Issue.record("the returning device should re-apply and report")
                return
            }
            #expect(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["syncRequestedAt"] == nil)
            guard case .unchanged = try await agent.sync() else {
                Issue.record("the request is answered once")
                return
            }
        }
    }

    /// A check-in that carried the request and got no report (the agent could not send it; it
    /// keeps it and sends it first next time) is not answered at once again for a while: an
    /// agent that cannot report does not spin. After the interval, or a new request, it is.
    @Test(arguments: StoreEngine.available)
    func aDeliveredRequestIsRepeatedOnlyAfterTheRedeliveryInterval(engine: StoreEngine) async throws {
        let clock = ManualClock()
        try await TestServer.with(engine, clock: clock) { server in
            let (agent, _, _) = try await TestAgent.enrolledWithPolicy(server)
            try await agent.sync()
            #expect(try await server.api(.POST, "/api/v1/devices/\(agent.deviceId)/sync").status == 202)
            #expect(try await server.store.checkInState(deviceId: agent.deviceId, deviceHash: nil).reportRequested)
            try await server.store.recordSyncDelivered(deviceId: agent.deviceId)
            #expect(try await server.store.checkInState(deviceId: agent.deviceId, deviceHash: nil).reportRequested == false)
            guard case .unchanged = try await agent.sync() else {
                Issue.record("a request carried a moment ago is not carried again")
                return
            }
            #expect(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["syncRequestedAt"] != nil, "still waiting for a report")

            // A new request is carried at once.
            #expect(try await server.api(.POST, "/api/v1/devices/\(agent.deviceId)/sync").status == 202)
            #expect(try await server.store.checkInState(deviceId: agent.deviceId, deviceHash: nil).reportRequested)
            try await server.store.recordSyncDelivered(deviceId: agent.deviceId)

            clock.advance(by: Double(PalisadeStore.syncRedeliveryMillis) / 1000)
            guard case .applied = try await agent.sync() else {
                Issue.record("after the interval the request is carried again")
                return
            }
            #expect(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["syncRequestedAt"] == nil)
        }
    }

    @Test(arguments: StoreEngine.available)
    func aGroupSyncAsksEveryDeviceOfTheGroupButRetiredOnesAndIsAuditedOnce(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let a = try await TestAgent.enroll(server, name: "a", token: token)
            let b = try await TestAgent.enroll(server, name: "b", token: token)
            let c = try await TestAgent.enroll(server, name: "c", token: token)
            let outside = try await TestAgent.enroll(server, name: "outside", token: token)
            let inner = try await server.createGroup("inner", members: [c.deviceId])
            let group = try await server.must(.POST, "/api/v1/groups", ["name": "outer", "members": [.string(a.deviceId), .string(b.deviceId)], "groups": [.string(inner)]])
            let groupId = try #require(group.objectValue?["id"]?.stringValue)
            try await server.must(.DELETE, "/api/v1/devices/\(b.deviceId)")

            let sync = try await server.api(.POST, "/api/v1/groups/\(groupId)/sync")
            #expect(sync.status == 202)
            #expect(sync["devices"] == 2, "a and c (through the nested group); b is retired")
            for (device, asked) in [(a, true), (b, false), (c, true), (outside, false)] {
                let record = try await server.api(.GET, "/api/v1/devices/\(device.deviceId)")
                #expect((record["syncRequestedAt"] != nil) == asked, "\(device.deviceId)")
            }
            let audit = try await server.api(.GET, "/api/v1/audit?action=group.sync")
            #expect(audit["events"]?.arrayValue?.count == 1)
            #expect(audit["events"]?.arrayValue?.first?.objectValue?["target"]?.objectValue?["name"] == "outer")
            #expect(audit["events"]?.arrayValue?.first?.objectValue?["newValue"] == ["devices": 2])
            #expect(try await server.api(.POST, "/api/v1/groups/nope/sync").status == 404)
        }
    }

    @Test(arguments: StoreEngine.available)
    func helpDeskMaySyncAndReadOnlyMayNot(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let agent = try await TestAgent.enroll(server, name: "a", token: try await server.createEnrollmentToken())
            let group = try await server.createGroup("g", members: [agent.deviceId])
            let readOnly = try await roleToken(server, "readOnlyOperator")
            for path in ["/api/v1/devices/\(agent.deviceId)/sync", "/api/v1/groups/\(group)/sync"] {
                let refused = try await server.api(.POST, path, token: readOnly)
                #expect(refused.status == 403)
                #expect(refused.errorMessage?.contains("syncDevices") == true)
            }
            #expect(try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")["syncRequestedAt"] == nil, "a refusal asks nothing")
            let helpDesk = try await roleToken(server, "helpDeskOperator")
            for path in ["/api/v1/devices/\(agent.deviceId)/sync", "/api/v1/groups/\(group)/sync"] {
                #expect(try await server.api(.POST, path, token: helpDesk).status == 202)
            }
        }
    }

    /// With two replicas, the long-poll is held by one and the sync made through the other:
    /// the wake-up travels through PostgreSQL.
    @Test(.enabled(if: StoreEngine.available.contains(.postgres), "needs PALISADE_TEST_POSTGRES_URL"))
    func aSyncMadeOnOneReplicaWakesALongPollOnAnother() async throws {
        try await TestServer.withReplicas(2) { replicas in
            let (first, second) = (replicas[0], replicas[1])
            let agent = try await TestAgent.enroll(first, name: "alpha", token: try await second.createEnrollmentToken())
            let group = try await second.createGroup("all", members: [agent.deviceId])
            let policy = try await second.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await second.assign(policy, include: [group])
            try await agent.sync()
            let (outcome, elapsed) = try await agent.checkIn(parkedOn: first, waitSeconds: 120) {
                let sync = try await second.api(.POST, "/api/v1/devices/\(agent.deviceId)/sync")
                #expect(sync.status == 202)
            }
            guard case .applied = outcome else {
                Issue.record("expected a re-apply and report, got \(outcome)")
                return
            }
            #expect(elapsed < .seconds(60), "woken across replicas, well before the 120 s wait (took \(elapsed))")
        }
    }
}

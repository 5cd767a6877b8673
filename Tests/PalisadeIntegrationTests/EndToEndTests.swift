import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// The foundation's path end to end: a real server on loopback over a real store, the real
/// agent code over HTTP, managed files under a temporary root.
@Suite struct EndToEndTests {
    @Test(arguments: StoreEngine.available)
    func policyReachesExactlyTheGroupAndFollowsChanges(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let a = try await TestAgent.enroll(server, name: "alpha", token: token)
            let b = try await TestAgent.enroll(server, name: "bravo", token: token)
            let c = try await TestAgent.enroll(server, name: "charlie", token: token)
            let devices = try await server.api(.GET, "/api/v1/devices")
            #expect(devices["devices"]?.arrayValue?.count == 3)

            let group = try await server.createGroup("servers", members: [a.deviceId, b.deviceId])
            let policy = try await server.createPolicy("Baseline AV", settings: [
                "antivirusEngine.enforcementLevel": "real_time",
                "cloudService.enabled": true,
                "cloudService.cloudBlockLevel": "high",
                "antivirusEngine.maximumOnDemandScanThreads": 4,
            ])
            try await server.assign(policy, include: [group])

            // Before the agents report, both targeted devices are pending.
            let pending = try await server.report(policy)
            #expect(pending["summary"]?.objectValue?["pending"] == 2)

            for agent in [a, b, c] { try await agent.sync() }
            #expect(try a.managedValue("antivirusEngine.enforcementLevel") == "real_time")
            #expect(try b.managedValue("cloudService.cloudBlockLevel") == "high")
            #expect(try b.managedValue("antivirusEngine.maximumOnDemandScanThreads") == 4)
            #expect(try c.managedFile() == nil, "the device outside the group must get no managed file")
            try a.keepArtifact("linux-baseline")

            var report = try await server.report(policy)
            #expect(report["summary"]?.objectValue?["succeeded"] == 2)
            #expect(report["devices"]?.arrayValue?.count == 2)
            #expect(Set(report["devices"]?.arrayValue?.compactMap { $0.objectValue?["deviceId"]?.stringValue } ?? []) == [a.deviceId, b.deviceId])

            // A new revision reaches both, and the report follows it.
            let updated = try await server.must(.PUT, "/api/v1/policies/\(policy)", [
                "name": "Baseline AV", "platform": "linux", "template": "antivirus",
                "settings": ["antivirusEngine.enforcementLevel": "on_demand", "cloudService.enabled": true],
            ])
            #expect(updated.objectValue?["revision"] == 2)
            report = try await server.report(policy)
            #expect(report["summary"]?.objectValue?["pending"] == 2)
            for agent in [a, b] { try await agent.sync() }
            #expect(try a.managedValue("antivirusEngine.enforcementLevel") == "on_demand")
            #expect(try a.managedValue("cloudService.cloudBlockLevel") == nil, "a setting dropped from the policy must leave the file")
            report = try await server.report(policy)
            #expect(report["summary"]?.objectValue?["succeeded"] == 2)
            #expect(report["devices"]?.arrayValue?.allSatisfy { $0.objectValue?["revision"] == 2 } == true)

            // Unassigning removes every key; with nothing managed the file is gone.
            try await server.assign(policy, include: [])
            for agent in [a, b] { try await agent.sync() }
            #expect(try a.managedFile() == nil)
            #expect(try b.managedFile() == nil)
        }
    }

    @Test(arguments: StoreEngine.available)
    func conflictingScalarsAreWithheldWhileOtherSettingsArrive(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let a = try await TestAgent.enroll(server, name: "alpha", token: token)
            let group = try await server.createGroup("all", members: [a.deviceId])
            let strict = try await server.createPolicy("Strict", settings: ["cloudService.cloudBlockLevel": "high", "cloudService.enabled": true])
            let relaxed = try await server.createPolicy("Relaxed", settings: ["cloudService.cloudBlockLevel": "normal", "antivirusEngine.scanArchives": true, "cloudService.enabled": true])
            let exclusions1 = try await server.createPolicy("Exclusions 1", template: "antivirusExclusions", settings: ["antivirusEngine.exclusions": [["$type": "excludedPath", "path": "/var/lib/db", "isDirectory": true]]])
            let exclusions2 = try await server.createPolicy("Exclusions 2", template: "antivirusExclusions", settings: ["antivirusEngine.exclusions": [["$type": "excludedFileExtension", "extension": "log"], ["$type": "excludedPath", "path": "/var/lib/db", "isDirectory": true]]])
            for policy in [strict, relaxed, exclusions1, exclusions2] { try await server.assign(policy, include: [group]) }
            try await a.sync()
            try a.keepArtifact("linux-merged")

            #expect(try a.managedValue("cloudService.cloudBlockLevel") == nil, "a conflicting scalar is not delivered")
            #expect(try a.managedValue("cloudService.enabled") == true, "the same value from two policies is no conflict")
            #expect(try a.managedValue("antivirusEngine.scanArchives") == true)
            #expect(try a.managedValue("antivirusEngine.exclusions")?.arrayValue?.count == 2, "exclusions are unioned without duplicates")

            let settings = try await server.api(.GET, "/api/v1/devices/\(a.deviceId)/settings")
            let rows = try #require(settings.body.arrayValue)
            let conflict = try #require(rows.first { $0.objectValue?["settingId"] == "cloudService.cloudBlockLevel" }?.objectValue)
            #expect(conflict["state"] == "conflict")
            let names = Set(conflict["policies"]?.arrayValue?.compactMap { $0.objectValue?["name"]?.stringValue } ?? [])
            #expect(names == ["Strict", "Relaxed"])
            #expect(conflict["detail"]?.stringValue?.contains("\"high\"") == true)
            #expect(rows.first { $0.objectValue?["settingId"] == "cloudService.enabled" }?.objectValue?["state"] == "succeeded")

            let strictReport = try await server.report(strict)
            #expect(strictReport["summary"]?.objectValue?["conflict"] == 1)
            let exclusionReport = try await server.report(exclusions1)
            #expect(exclusionReport["summary"]?.objectValue?["succeeded"] == 1)
        }
    }

    @Test(arguments: StoreEngine.available)
    func longPollingCheckInWakesWhenConfigurationChanges(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let a = try await TestAgent.enroll(server, name: "alpha", token: token)
            let group = try await server.createGroup("all", members: [a.deviceId])
            try await a.sync()

            let (result, elapsed) = try await a.checkIn(parkedOn: server, waitSeconds: 120) {
                let policy = try await server.createPolicy("AV", settings: ["antivirusEngine.enforcementLevel": "real_time"])
                try await server.assign(policy, include: [group])
            }
            guard case .applied(let report) = result else {
                Issue.record("expected the long-poll to deliver the new configuration, got \(result)")
                return
            }
            #expect(report.results.map(\.settingId) == ["antivirusEngine.enforcementLevel"])
            // Far under the 120 s wait, with room for a loaded two-core machine: the change itself
            // (a policy and an assignment written while the whole suite runs) took up to 20 s.
            #expect(elapsed < .seconds(60), "the check-in must answer on change, not at the end of its 120 s wait (took \(elapsed))")
            #expect(try a.managedValue("antivirusEngine.enforcementLevel") == "real_time")
        }
    }

    @Test(arguments: StoreEngine.available)
    func reenrollingTheSameHardwareReusesTheDeviceAndItsMemberships(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (first, _, _) = try await TestAgent.enrolledWithPolicy(server, name: "alpha", settings: ["cloudService.enabled": true])
            // A reinstall in a re-imaging wave: new state directory and key, same hardware id, a
            // token made for re-enrollment.
            try FileManager.default.removeItem(atPath: server.directory + "/agents/alpha")
            let second = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken(allowReenrollment: true))
            #expect(second.deviceId == first.deviceId)
            #expect(try await server.count("devices") == 1)
            try await second.sync()
            #expect(try second.managedValue("cloudService.enabled") == true)
        }
    }
}

/// Device identity: holding an enrollment token is not enough to take over a device.
@Suite struct DeviceIdentityTests {
    @Test(arguments: StoreEngine.available)
    func aTakeOverAttemptWaitsForApprovalWhileTheRealAgentKeepsWorking(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (real, _, policy) = try await TestAgent.enrolledWithPolicy(server, name: "alpha", settings: ["cloudService.enabled": true])
            try await real.sync()
            // Someone else, with a valid token, claims the same hardware id with another key.
            let intruderBase = server.directory + "/intruder"
            let intruder = PalisadeAgent(state: AgentStateDirectory(path: intruderBase + "/state"), httpClient: TestAgent.httpClient,
                                         options: .init(waitSeconds: 0), clock: server.store.clock, logger: TestServer.logger)
            let enrollment = try await intruder.enroll(serverURL: server.baseURL, token: try await server.createEnrollmentToken(),
                                                       probe: DeviceInventoryProbe(root: EnforcementRoot(intruderBase + "/root"), platform: .linux, hostname: "evil", hardwareId: "hw-alpha"),
                                                       trust: server.ca.map { .pinned($0.certificatePEM) } ?? .insecureHTTP)
            #expect(enrollment.deviceId == real.deviceId, "the request names the existing device")
            let device = try await server.must(.GET, "/api/v1/devices/\(real.deviceId)")
            #expect(device.objectValue?["pendingReenrollment"]?.objectValue?["sourceAddress"] == "127.0.0.1")
            #expect(device.objectValue?["name"] == "alpha", "nothing about the device changed")
            await #expect(throws: AgentError.server(status: 403, code: "reenrollment_pending",
                                                    message: "this device's new key waits for an administrator to approve the re-enrollment of device \(real.deviceId)")) {
                try await intruder.runCycle(waitSeconds: 0)
            }

            // The real agent goes on receiving changes.
            _ = try await server.must(.PUT, "/api/v1/policies/\(policy)", ["name": "AV", "platform": "linux", "template": "antivirus", "settings": ["cloudService.enabled": false]])
            try await real.sync()
            #expect(try real.managedValue("cloudService.enabled") == false)
            let audit = try await server.must(.GET, "/api/v1/audit?action=device.reenrollmentPending")
            let entry = try #require(audit.objectValue?["events"]?.arrayValue?.first?.objectValue)
            #expect(entry["target"]?.objectValue?["id"]?.stringValue == real.deviceId)
            #expect(entry["actor"]?.objectValue?["sourceAddress"] == "127.0.0.1")

            // Only an administrator's approval hands the device to the new key.
            let readOnly = try #require(try await server.must(.POST, "/api/v1/api-tokens", ["name": "ro", "role": "endpointSecurityManager"]).objectValue?["token"]?.stringValue)
            #expect(try await server.api(.POST, "/api/v1/devices/\(real.deviceId)/approve-reenrollment", token: readOnly).status == 403)
            _ = try await server.must(.POST, "/api/v1/devices/\(real.deviceId)/approve-reenrollment")
            #expect(try await server.api(.POST, "/api/v1/devices/\(real.deviceId)/approve-reenrollment").status == 409, "nothing is pending any more")
            _ = try await intruder.runCycle(waitSeconds: 0)
            await #expect(throws: AgentError.self, "the old key is refused") { try await real.sync() }
        }
    }

    @Test(arguments: StoreEngine.available)
    func anAgentReenrollingFromItsOwnStateKeepsItsDevice(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, _) = try await TestAgent.enrolledWithPolicy(server, name: "alpha")
            let again = try await agent.agent.enroll(serverURL: server.baseURL, token: try await server.createEnrollmentToken(),
                                                    probe: DeviceInventoryProbe(root: EnforcementRoot(agent.root), platform: .linux, hostname: "alpha", hardwareId: "hw-alpha"),
                                                    force: true, trust: server.ca.map { .pinned($0.certificatePEM) } ?? .insecureHTTP)
            #expect(again.deviceId == agent.deviceId, "the same key proves the same device")
            try await agent.sync()
            #expect(try agent.managedValue("cloudService.enabled") == true)
            #expect(try await server.count("devices") == 1)
        }
    }

    @Test(arguments: StoreEngine.available)
    func aRetiredDeviceIsNeverRevived(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, group, _) = try await TestAgent.enrolledWithPolicy(server, name: "alpha")
            _ = try await server.api(.DELETE, "/api/v1/devices/\(agent.deviceId)")
            try FileManager.default.removeItem(atPath: server.directory + "/agents/alpha")
            let reborn = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken(allowReenrollment: true))
            #expect(reborn.deviceId != agent.deviceId, "a new record, even with a re-imaging token")
            #expect(try await server.count("devices") == 2)
            let retired = try await server.must(.GET, "/api/v1/devices/\(agent.deviceId)")
            #expect(retired.objectValue?["enrollmentStatus"] == "retired")
            #expect(retired.objectValue?["hardwareId"] == "hw-alpha", "history keeps the hardware id")
            try await reborn.sync()
            #expect(try reborn.managedFile() == nil, "the new device is not in the retired one's group")
            let members = try await server.must(.GET, "/api/v1/groups/\(group)/members")
            #expect(members.objectValue?["devices"]?.arrayValue?.count == 1)
        }
    }
}

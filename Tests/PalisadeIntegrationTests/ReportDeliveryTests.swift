import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeIdentity
import PalisadeServer
import SQLKit
import Testing

/// Issue 17: a report is acknowledged only when the server stored it; a report of another
/// configuration is answered so that the agent knows to check in; and a device whose report is
/// missing anyway is asked for it again on its next check-in (docs/PROTOCOL.md, section 4).
@Suite struct ReportDeliveryTests {
    func storedReportHash(_ server: TestServer, _ device: String) async throws -> String? {
        try await ServerProcessTests.storedReportHashes(server)[device]
    }

    @Test(arguments: StoreEngine.available)
    func aReportOfAnOutdatedConfigurationIsAnswered409AndTheAgentChecksInForTheCurrentOne(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, policy) = try await TestAgent.enrolledWithPolicy(server, settings: ["cloudService.enabled": true])
            try await agent.sync()
            let first = try #require(try await server.store.configurationHash(deviceId: agent.deviceId))
            #expect(try await storedReportHash(server, agent.deviceId) == first)
            _ = try await server.must(.PUT, "/api/v1/policies/\(policy)", [
                "name": "AV", "platform": "linux", "template": "antivirus", "settings": ["cloudService.enabled": false],
            ])
            let second = try #require(try await server.store.configurationHash(deviceId: agent.deviceId))
            #expect(second != first)

            // The agent's report of what it holds reaches the server after the change: refused
            // with the current hash, never a 200; its drift event is kept all the same.
            let state = agent.agent.state
            let enrollment = try #require(try state.enrollment())
            let signer = try await DeviceAssertionSigner(deviceId: enrollment.deviceId, privateKeyPEM: try #require(state.privateKeyPEM()))
            let client = try DeviceProtocolClient(serverURL: server.baseURL, httpClient: TestAgent.httpClient, trust: .insecureHTTP)
            let drift = DriftEvent(id: "drift-outdated-1", settingId: "cloudService.enabled", found: false, restored: true, detail: nil,
                                   detectedAt: "2026-12-07T10:00:00Z")
            let outdated = DeviceProtocol.StatusReport(configurationHash: first, results: [.init(settingId: "cloudService.enabled", state: .succeeded)], drift: [drift])
            do {
                _ = try await client.report(outdated, signer: signer)
                Issue.record("a report of an outdated configuration was acknowledged")
            } catch AgentError.server(let status, let code, let message) {
                #expect(status == 409)
                #expect(code == DeviceProtocol.ErrorCode.configurationOutdated)
                #expect(message.contains(second), "the answer names the current configuration: \(message)")
            }
            #expect(try await storedReportHash(server, agent.deviceId) == first, "the device's report of the current configuration is not replaced")
            let drifts = try await server.must(.GET, "/api/v1/reports/drift")
            #expect(drifts.objectValue?["events"]?.arrayValue?.contains { $0.objectValue?["id"] == "drift-outdated-1" } == true, "drift events are kept: \(drifts)")

            // The agent holding that report drops it on the 409, checks in, applies and reports
            // the current configuration.
            try state.savePendingReport(outdated)
            guard case .applied(let report) = try await agent.sync() else {
                Issue.record("the agent did not apply the current configuration")
                return
            }
            #expect(report.configurationHash == second)
            #expect(try state.pendingReport() == nil)
            #expect(try await storedReportHash(server, agent.deviceId) == second)
            #expect(try agent.managedValue("cloudService.enabled") == false)
        }
    }

    /// The stuck devices of the issue held their current configuration while the server held a
    /// report of another one (an older revision with the same settings, whose report had been
    /// answered and ignored). No API can make that state any more, so the test writes it.
    @Test(arguments: StoreEngine.available)
    func aDeviceWhoseReportIsMissingIsAskedForItOnItsNextCheckInAndNotMoreOftenThanEveryTwoMinutes(engine: StoreEngine) async throws {
        let clock = ManualClock()
        try await TestServer.with(engine, clock: clock) { server in
            let (agent, _, policy) = try await TestAgent.enrolledWithPolicy(server)
            try await agent.sync()
            let current = try #require(try await server.store.configurationHash(deviceId: agent.deviceId))
            #expect(try await agent.sync() == .unchanged(hash: current), "in its steady state the device is not asked")

            @Sendable func loseTheReport() async throws {
                try await server.sql { sql in
                    try await sql.raw("UPDATE device_reports SET configuration_hash = 'sha256:another' WHERE device_id = \(bind: agent.deviceId)").run()
                }
                server.store.notifier.cache.devicesChanged([agent.deviceId])
            }
            try await loseTheReport()
            guard case .applied(let report) = try await agent.sync() else {
                Issue.record("the device was not asked for its missing report")
                return
            }
            #expect(report.configurationHash == current)
            #expect(try await storedReportHash(server, agent.deviceId) == current)
            let summary = try await server.must(.GET, "/api/v1/policies/\(policy)/report?limit=1").objectValue?["summary"]?.objectValue
            #expect(summary?["succeeded"]?.integerValue == 1, "\(String(describing: summary))")

            // Lost again at once: not asked about the same configuration again until two
            // minutes have passed (a report that can never be stored must not make the agent
            // re-apply on every check-in).
            try await loseTheReport()
            #expect(try await agent.sync() == .unchanged(hash: current))

            // A new revision with the same settings (a value flipped and back: the hash of the
            // last) is another configuration: asked about at once. The stuck devices of the
            // issue's 300-device runs had been asked during the flips and then parked.
            for enabled in [false, true] {
                _ = try await server.must(.PUT, "/api/v1/policies/\(policy)", [
                    "name": "AV", "platform": "linux", "template": "antivirus", "settings": ["cloudService.enabled": .bool(enabled)],
                ])
                try await agent.sync()
            }
            #expect(try await server.store.configurationHash(deviceId: agent.deviceId) == current)
            try await loseTheReport()
            guard case .applied = try await agent.sync() else {
                Issue.record("a new revision with the same hash was not asked about")
                return
            }
            #expect(try await storedReportHash(server, agent.deviceId) == current)

            try await loseTheReport()
            #expect(try await agent.sync() == .unchanged(hash: current))
            clock.advance(by: Double(PalisadeStore.reportRequestRepeatMillis) / 1000 + 1)
            guard case .applied = try await agent.sync() else {
                Issue.record("the device was not asked again after the interval")
                return
            }
            #expect(try await storedReportHash(server, agent.deviceId) == current)
        }
    }
}

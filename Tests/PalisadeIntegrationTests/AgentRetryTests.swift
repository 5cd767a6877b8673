import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// A refused assertion (401) is not the end of the agent: it retries with backoff and records it
/// in its health; only a confirmed retirement (403 `device_retired`) stops it.
@Suite struct AgentRetryTests {
    @Test(arguments: StoreEngine.available)
    func aRefusedAssertionIsRetriedAndRecordedAndOnlyRetirementStopsTheAgent(engine: StoreEngine) async throws {
        let serverClock = ManualClock()
        try await TestServer.with(engine, clock: serverClock, tls: true) { server in
            let (enrolled, _, policy) = try await TestAgent.enrolledWithPolicy(server, name: "alpha", settings: ["cloudService.enabled": true])
            try await enrolled.sync()
            let state = enrolled.agent.state

            // The device's clock runs 20 minutes ahead of the server's: every assertion is refused.
            let deviceClock = ManualClock(serverClock.now.addingTimeInterval(20 * 60))
            let agent = PalisadeAgent(state: state, httpClient: TestAgent.httpClient, options: enrolled.agent.options, clock: deviceClock, logger: TestServer.logger)
            do {
                _ = try await agent.runCycle(waitSeconds: 0)
                Issue.record("an assertion from the future was accepted")
            } catch let error as AgentError {
                guard case .server(401, let code, _) = error else {
                    Issue.record("unexpected error: \(error)")
                    return
                }
                #expect(code == DeviceProtocol.ErrorCode.assertionInvalid)
                #expect(error.isTransient)
            }

            let running = Task { try await agent.run() }
            try await waitUntil { try state.health().consecutiveFailures >= 3 }
            let failing = try state.health()
            #expect(failing.lastError?.contains("HTTP 401") == true, "\(failing.lastError ?? "")")
            #expect(failing.lastErrorAt != nil)
            #expect(!failing.retired)
            #expect(try enrolled.managedValue("cloudService.enabled") == true, "the applied configuration stays")

            // The clock is fixed (NTP caught up): the same running agent recovers by itself.
            deviceClock.set(serverClock.now)
            try await waitUntil { try state.health().consecutiveFailures == 0 }
            #expect(try state.health().lastError == nil)

            // A confirmed retirement stops it, with the state saying so.
            #expect(try await server.api(.DELETE, "/api/v1/devices/\(enrolled.deviceId)").status == 204)
            do {
                try await running.value
                Issue.record("the agent kept running after its device was retired")
            } catch let error as AgentError {
                guard case .retired = error else {
                    Issue.record("unexpected error: \(error)")
                    return
                }
                #expect(!error.isTransient)
            }
            #expect(try state.health().retired)
            _ = policy
        }
    }

    @Test func whichErrorsStopTheAgent() {
        #expect(AgentError.server(status: 401, code: "assertion_invalid", message: "").isTransient)
        #expect(AgentError.server(status: 401, code: "device_unknown", message: "").isTransient)
        #expect(AgentError.server(status: 403, code: "forbidden", message: "a proxy said no").isTransient, "only device_retired stops it")
        #expect(AgentError.server(status: 503, code: "http_503", message: "").isTransient)
        #expect(AgentError.untrustedServer(serverURL: "https://x", pinnedCA: "AB", detail: "").isTransient)
        #expect(!AgentError.retired(deviceId: "d", message: "").isTransient)
        #expect(!AgentError.insecureServer(serverURL: "http://x").isTransient)
        #expect(!AgentError.notEnrolled(stateDirectory: "/x").isTransient)
    }
}

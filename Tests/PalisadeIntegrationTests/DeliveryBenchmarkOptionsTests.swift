import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeIdentity
import PalisadeServer
import PalisadeSimulator
import Testing

/// What the delivery benchmark (scripts/bench-delivery.sh) relies on: the serve options that
/// raise the device-protocol rate limits (and that the raised limits still hold), the
/// simulator's command-line checks, and the agent's session kept between cycles.
@Suite struct DeliveryBenchmarkOptionsTests {
    @Test func aRaisedEnrollmentLimitAdmitsMoreAttemptsAndStillRefusesPastIt() async throws {
        // A clock that stands still: the limit's minute cannot end while a loaded machine sends 151 requests.
        try await TestServer.with(.sqlite, clock: ManualClock(), deviceRateLimits: .init(enrollmentsPerMinute: 150)) { server in
            // Malformed attempts count too (the limit is taken before the body is read): 150 are
            // answered on their merits, past the default of 120; the 151st is refused.
            for attempt in 1...150 {
                let response = try await server.api(.POST, "/device/v1/enroll", rawBody: Array("{}".utf8))
                #expect(response.status == 400, "attempt \(attempt): \(response.body)")
                if response.status != 400 { return }
            }
            let refused = try await server.api(.POST, "/device/v1/enroll", rawBody: Array("{}".utf8))
            #expect(refused.status == 429)
            #expect(refused.errorCode == "too_many_requests")
            #expect(refused.headers["Retry-After"].first != nil)
        }
    }

    @Test func aRaisedDeviceLimitAdmitsMoreCheckInsAndStillRefusesPastIt() async throws {
        try await TestServer.with(.sqlite, clock: ManualClock(), deviceRateLimits: .init(deviceRequestsPerMinute: 130)) { server in
            let agent = try await TestAgent.enroll(server, name: "busy", token: try await server.createEnrollmentToken())
            let signer = try await DeviceAssertionSigner(deviceId: agent.deviceId, privateKeyPEM: try #require(agent.agent.state.privateKeyPEM()),
                                                     clock: server.store.clock)
            let client = try DeviceProtocolClient(serverURL: server.baseURL, httpClient: TestAgent.httpClient, trust: .insecureHTTP)
            for _ in 1...130 {
                _ = try await client.checkIn(.init(configurationHash: nil, waitSeconds: 0), signer: signer)
            }
            await #expect(throws: AgentError.self) {
                _ = try await client.checkIn(.init(configurationHash: nil, waitSeconds: 0), signer: signer)
            }
            do {
                _ = try await client.checkIn(.init(configurationHash: nil, waitSeconds: 0), signer: signer)
            } catch AgentError.server(let status, let code, _) {
                #expect(status == 429)
                #expect(code == "too_many_requests")
            }
        }
    }

    /// `palisade serve` lifts its soft open-file limit to the hard one: with the common soft
    /// default of 1,024 it could not hold more than about a thousand long-polls.
    @Test func theServerRaisesItsOpenFileLimitToTheHardLimit() throws {
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var before = rlimit()
        try #require(getrlimit(resource, &before) == 0)
        try #require(before.rlim_max > 256, "the hard limit \(before.rlim_max) leaves nothing to raise")
        var lowered = before
        lowered.rlim_cur = 256
        try #require(setrlimit(resource, &lowered) == 0)
        defer { var restore = before; _ = setrlimit(resource, &restore) }
        let raised = PalisadeServerRunner.raiseOpenFileLimit()
        #expect(raised.soft > 256 && raised.soft <= UInt64(before.rlim_max))
        #expect(raised.hard == UInt64(before.rlim_max))
        var now = rlimit()
        try #require(getrlimit(resource, &now) == 0)
        #expect(UInt64(now.rlim_cur) == raised.soft, "the process's limit is the one reported")
    }

    @Test func theDefaultLimitsAreUnchanged() {
        let limits = DeviceRateLimits()
        #expect(limits.enrollmentsPerMinute == 120)
        #expect(limits.deviceRequestsPerMinute == 120)
        #expect(ServerConfiguration(dataDirectory: nil, databaseURL: nil).deviceRateLimits == limits)
    }

    @Test func simulatorServerListsAreChecked() throws {
        try FleetSimulator.Configuration.validateServers(["https://a.example:8443", "https://b.example:8443"], allowInsecureHTTP: false)
        try FleetSimulator.Configuration.validateServers(["http://127.0.0.1:8080"], allowInsecureHTTP: true)
        #expect(throws: AgentError.self) { try FleetSimulator.Configuration.validateServers([], allowInsecureHTTP: false) }
        #expect(throws: AgentError.self) { try FleetSimulator.Configuration.validateServers(["https://a.example", "https://a.example/"], allowInsecureHTTP: false) }
        #expect(throws: AgentError.self) { try FleetSimulator.Configuration.validateServers(["https://a.example", "http://b.example"], allowInsecureHTTP: false) }
        #expect(throws: AgentError.self) { try FleetSimulator.Configuration.validateServers(["https://"], allowInsecureHTTP: false) }
    }

    /// The built `palisade` executable refuses bad flags with a message naming them and a
    /// non-zero exit, before contacting any server.
    @Test(arguments: [
        (["simulate", "--token-file", "/dev/null", "--devices", "1"], "--server"),
        (["simulate", "--server", "https://a.example", "--server", "ftp://b.example", "--token-file", "/dev/null", "--devices", "1"], "ftp://b.example"),
        (["simulate", "--server", "https://a.example", "--server", "https://a.example", "--token-file", "/dev/null", "--devices", "1"], "given twice"),
        (["simulate", "--server", "https://a.example", "--token-file", "/dev/null", "--devices", "1", "--reuse-enrolled"], "--reuse-enrolled needs --work-dir and --run-id"),
        (["simulate", "--server", "https://a.example", "--token-file", "/dev/null", "--devices", "1", "--run-id", "no/slashes"], "--run-id"),
        (["simulate", "--server", "https://a.example", "--token-file", "/dev/null", "--devices", "1", "--warm-up", "-1"], "--warm-up"),
        (["serve", "--data-dir", "/nonexistent/palisade", "--enrollment-rate-limit", "0"], "--enrollment-rate-limit must be at least 1"),
        (["serve", "--data-dir", "/nonexistent/palisade", "--device-rate-limit", "0"], "--device-rate-limit must be at least 1"),
    ])
    func badBenchmarkFlagsAreRefusedByTheCLI(arguments: [String], named: String) throws {
        let result = try AgentServiceTests.run(AgentServiceTests.palisade, arguments)
        #expect(result.status != 0)
        #expect(result.error.contains(named), "\(result.error)")
    }

    /// The agent keeps its session between cycles, and builds a new one when its state files
    /// are replaced: here another device's enrollment and key are copied in, and the next cycle
    /// checks in as that device.
    @Test func theAgentsSessionFollowsItsStateFiles() async throws {
        try await TestServer.with(.sqlite) { server in
            let token = try await server.createEnrollmentToken()
            let alpha = try await TestAgent.enroll(server, name: "alpha", token: token)
            let beta = try await TestAgent.enroll(server, name: "beta", token: token)
            try await alpha.sync()
            try await alpha.sync()
            let betaBefore = try await server.must(.GET, "/api/v1/devices/\(beta.deviceId)")
            #expect(betaBefore.objectValue?["lastCheckInAt"] == nil || betaBefore.objectValue?["lastCheckInAt"] == .null)

            for file in ["enrollment.json", "device-key.pem"] {
                let target = alpha.agent.state.path + "/" + file
                try FileManager.default.removeItem(atPath: target)
                try FileManager.default.copyItem(atPath: beta.agent.state.path + "/" + file, toPath: target)
            }
            try await alpha.sync()
            let betaAfter = try await server.must(.GET, "/api/v1/devices/\(beta.deviceId)")
            #expect(betaAfter.objectValue?["lastCheckInAt"]?.stringValue != nil, "the cycle after the files changed signed as beta: \(betaAfter)")
        }
    }
}

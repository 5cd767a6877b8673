import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// The agent keeps the last good configuration and keeps running while the server is
/// unreachable, backs off, and sends later the report it could not send.
@Suite struct AgentResilienceTests {
    @Test(arguments: StoreEngine.available)
    func survivesAnUnreachableServerAndSendsItsReportLater(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, policy) = try await TestAgent.enrolledWithPolicy(server, name: "alpha", settings: ["cloudService.enabled": true])
            try await agent.sync()
            let state = agent.agent.state
            let applied = try #require(try state.applied())

            // The server becomes unreachable, and the report of the applied configuration is
            // still unsent (as after a crash between applying and reporting).
            var enrollment = try #require(try state.enrollment())
            let goodURL = enrollment.serverURL
            enrollment.serverURL = "http://127.0.0.1:1"
            try state.save(enrollment)
            try state.savePendingReport(applied.report)
            // The report never arrived: no stored report, and the states reports read are those
            // of a delivered configuration not yet reported on.
            try await server.store.backend.write(lockKey: "test") { sql in
                try await sql.raw("DELETE FROM device_reports").run()
                try await sql.raw("UPDATE device_policy_targets SET state = 'pending'").run()
                try await sql.raw("UPDATE devices SET report_state = 'pending'").run()
            }
            #expect(try await server.report(policy)["summary"]?.objectValue?["pending"] == 1)

            let running = Task { try await agent.agent.run() }
            defer { running.cancel() }
            try await eventually { try state.health().consecutiveFailures >= 3 }
            let health = try state.health()
            #expect(health.lastError?.contains("unreachable") == true)
            #expect(try agent.managedValue("cloudService.enabled") == true, "the last good configuration stays applied")
            #expect(try state.pendingReport() != nil, "the unsent report is kept")

            // The server is back: the agent recovers by itself and delivers the report.
            enrollment.serverURL = goodURL
            try state.save(enrollment)
            try await eventually { try state.pendingReport() == nil }
            try await eventually { try await server.report(policy)["summary"]?.objectValue?["succeeded"] == 1 }
            try await eventually { try state.health().consecutiveFailures == 0 }
        }
    }

    @Test func backoffGrowsWithJitterAndStaysBounded() {
        var previousCeiling = Duration.zero
        for failures in 1...12 {
            let ceiling = min(Duration.seconds(1) * (1 << (failures - 1)), .seconds(60))
            for _ in 0..<20 {
                let delay = PalisadeAgent.backoff(failures: failures, base: .seconds(1), maximum: .seconds(60))
                #expect(delay >= ceiling / 2 && delay <= ceiling, "failure \(failures): \(delay) outside [\(ceiling / 2), \(ceiling)]")
            }
            #expect(ceiling >= previousCeiling)
            previousCeiling = ceiling
        }
        let spread = Set((0..<50).map { _ in PalisadeAgent.backoff(failures: 5, base: .seconds(1), maximum: .seconds(60)) })
        #expect(spread.count > 1, "jitter spreads agents apart")
    }

    @Test(arguments: StoreEngine.available)
    func driftedManagedFileIsPutBack(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, _) = try await TestAgent.enrolledWithPolicy(server, name: "alpha", settings: ["antivirusEngine.enforcementLevel": "real_time"])
            try await agent.sync()
            try #"{"antivirusEngine":{"enforcementLevel":"passive"}}"#.write(toFile: agent.managedFilePath, atomically: true, encoding: .utf8)
            try await agent.sync()
            #expect(try agent.managedValue("antivirusEngine.enforcementLevel") == "real_time")
        }
    }

    /// Polls `condition` for up to 10 s.
    func eventually(_ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for _ in 0..<500 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("condition not met within 10 s", sourceLocation: sourceLocation)
    }
}

/// A running agent whose minimum interval between check-ins is long (20 s): a change made a
/// second after the previous one still reaches it at once, because the interval applies only
/// after an "unchanged". Alone this takes about 0.1 s; before, the agent slept out the interval
/// after applying a configuration, and the second change waited about 18 s.
@Suite struct BackToBackChangeTests {
    @Test func aChangeASecondAfterTheLastReachesARunningAgentAtOnce() async throws {
        try await TestServer.with(.sqlite) { server in
            let base = server.directory + "/agents/steady"
            let agent = PalisadeAgent(state: AgentStateDirectory(path: base + "/state"), httpClient: TestAgent.httpClient,
                                      options: .init(waitSeconds: 30, backoffBase: .milliseconds(50), backoffMaximum: .milliseconds(200), minimumInterval: .seconds(20)),
                                      clock: server.store.clock, logger: TestServer.logger)
            let enrollment = try await agent.enroll(serverURL: server.baseURL, token: try await server.createEnrollmentToken(),
                                                    probe: DeviceInventoryProbe(root: EnforcementRoot(base + "/root"), platform: .linux, hostname: "steady", hardwareId: "hw-steady"),
                                                    trust: server.ca.map { .pinned($0.certificatePEM) } ?? .insecureHTTP)
            let group = try await server.createGroup("g", members: [enrollment.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            let managedFile = base + "/root/" + LinuxManagedJSONRenderer.relativePath
            @Sendable func managed(_ key: String) -> JSONValue? {
                guard let data = FileManager.default.contents(atPath: managedFile), let document = try? JSONDecoder().decode(JSONValue.self, from: data) else { return nil }
                return LinuxManagedJSONRenderer.settings(in: document, ids: [key])[key]
            }
            @Sendable func waitFor(_ value: JSONValue, within limit: Duration) async throws -> Duration? {
                let clock = ContinuousClock()
                let started = clock.now
                while clock.now - started < limit {
                    if managed("cloudService.cloudBlockLevel") == value { return clock.now - started }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return nil
            }

            let running = Task { try await agent.run() }
            defer { running.cancel() }
            for _ in 0..<500 where managed("cloudService.enabled") != true { try await Task.sleep(for: .milliseconds(20)) }
            #expect(managed("cloudService.enabled") == true, "the first configuration arrived")

            func change(_ level: String) async throws {
                _ = try await server.must(.PUT, "/api/v1/policies/\(policy)", ["name": "AV", "platform": "linux", "template": "antivirus",
                                                                               "settings": ["cloudService.enabled": true, "cloudService.cloudBlockLevel": .string(level)]])
            }
            try await change("high")
            let first = try #require(try await waitFor("high", within: .seconds(15)), "the first change arrives")
            try await Task.sleep(for: .seconds(1))
            try await change("high_plus")
            // The bound leaves room for the rest of the suite sharing two cores; the delivery
            // target itself (2 s) is a figure for the delivery benchmark (issue 12).
            let second = try await waitFor("high_plus", within: .seconds(15))
            #expect(second != nil && second! < .seconds(8), "the second change took \(String(describing: second)) (the first \(first))")
        }
    }
}

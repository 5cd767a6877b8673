import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import PalisadeSimulator
import Testing

/// `palisade simulate`'s engine against a real server: virtual agents running the real agent
/// code (file-system sandbox per device, a SIMULATED Defender tool answering "healthy").
@Suite struct FleetSimulatorTests {
    @Test func twentySimulatedDevicesEnrollApplyAndReport() async throws {
        try await TestServer.with(.sqlite) { server in
            let linuxGroup = try await server.must(.POST, "/api/v1/groups", ["name": "all linux", "membershipRule": #"device.platform -eq "linux""#])
            let group = try #require(linuxGroup.objectValue?["id"]?.stringValue)
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            // Room for retries: under load an enrollment the server made can time out on the
            // client, and the retry (same key) uses the token again.
            let token = try await server.createEnrollmentToken(maxUses: 40)
            let directory = server.directory + "/simulation"
            let simulator = FleetSimulator(configuration: .init(
                serverURL: server.baseURL, enrollmentToken: token, devices: 20, platformMix: [(.linux, 3), (.macos, 1), (.windows, 1)],
                trust: .insecureHTTP, waitSeconds: 2, minimumInterval: .milliseconds(100), enrollConcurrency: 8,
                workDirectory: directory, backoffBase: .milliseconds(50), backoffMaximum: .milliseconds(500)), logger: TestServer.logger)
            let run = Task { try await simulator.run(duration: .seconds(60)) }
            // Done once every device has a report in and the 12 Linux devices have succeeded. Under
            // the full parallel suite on two cores requests can time out; devices retry as the
            // agent does, so the deadline is generous and transient errors are allowed.
            for _ in 0..<900 {
                let snapshot = simulator.metrics.snapshot()
                if snapshot.devicesReported == 20, snapshot.succeededReports >= 12 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            run.cancel()
            _ = await run.result
            try await simulator.shutdown()

            let snapshot = simulator.metrics.snapshot()
            let errors = simulator.metrics.report().errorSamples
            #expect(snapshot.enrolled == 20, "errors: \(errors)")
            #expect(snapshot.devicesReported == 20, "every simulated device had a report acknowledged; errors: \(errors)")
            #expect(snapshot.succeededReports == 12, "the 12 Linux devices (3 in 5) report the policy succeeded")
            #expect(errors.keys.allSatisfy { !$0.contains("HTTP 4") }, "no request refused: \(errors)")

            // The server agrees: 12 devices succeeded on the policy.
            let report = try await server.must(.GET, "/api/v1/policies/\(policy)/report")
            let summary = try #require(report.objectValue?["summary"]?.objectValue)
            #expect(summary["succeeded"]?.integerValue == 12, "\(summary)")
            let devices = try await server.must(.GET, "/api/v1/devices?limit=100")
            #expect(devices.objectValue?["devices"]?.arrayValue?.count == 20)

            let metrics = simulator.metrics.report()
            #expect(metrics.enrollLatency.count == 20)
            #expect(metrics.succeededReportTimes.values.map(\.count).reduce(0, +) == 12)
        }
    }

    @Test func platformMixIsParsedAndSpreadByShare() throws {
        let mix = try FleetSimulator.Configuration.parsePlatformMix("linux=60,macos=20,windows=20")
        #expect(mix.map(\.0) == [.linux, .macos, .windows])
        #expect(mix.map(\.1) == [60, 20, 20])
        #expect(throws: AgentError.self) { try FleetSimulator.Configuration.parsePlatformMix("linux=60,beos=3") }
        #expect(throws: AgentError.self) { try FleetSimulator.Configuration.parsePlatformMix("linux=0") }
    }
}

extension FleetSimulatorTests {
    @Test func aRateLimitRefusalIsRetriedWhenTheServerSays() throws {
        let refusal = AgentError.server(status: 429, code: "too_many_requests", message: "too many enrollment attempts from 127.0.0.1; try again in 53 s")
        let delay = try #require(FleetSimulator.retryDelay(of: refusal))
        #expect(delay >= .seconds(53) && delay <= .seconds(54))
        #expect(FleetSimulator.retryDelay(of: AgentError.server(status: 500, code: "internal_error", message: "try again in 53 s")) == nil)
    }
}

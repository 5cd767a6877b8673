import AsyncHTTPClient
import Foundation
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import PalisadeSimulator
import SQLKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `palisade serve` as a real process on a SQLite data directory, with simulated agents (the
/// real agent cycle; a SIMULATED Defender tool) against it: what signals and a crash do.
@Suite(.serialized) struct ServerProcessTests {
    @Test("SIGTERM with a long-poll held stops the server at once, not after the poll's 60 s", .timeLimit(.minutes(3)))
    func sigtermReleasesHeldLongPolls() async throws {
        try await Self.withServerProcess { process, server in
            let token = try await server.createEnrollmentToken(maxUses: 1)
            let simulator = Self.simulator(server: process.baseURL, token: token, devices: 1, waitSeconds: 60, directory: server.directory)
            let run = Task { try await simulator.run(duration: .seconds(150)) }
            defer { run.cancel() }
            try await Self.waitUntil("the device's check-in is held", timeout: .seconds(90)) {
                try await Self.metric("palisade_long_polls_held", of: server) == 1
            }
            process.signal(SIGTERM)
            let took = try await process.waitForExit(within: .seconds(15))
            // Stopping waits for answered requests; a held poll is answered at once on SIGTERM.
            // Without that it would take the whole graceful-stop limit (6 s) or the poll's 60 s.
            #expect(took != nil && took! < .seconds(4), "stopped after \(took.map { "\($0)" } ?? "more than 15 s")")
            run.cancel()
            _ = await run.result
            try await simulator.shutdown()
        }
    }

    @Test("SIGKILL while reports arrive: every report the server acknowledged is stored, and after a restart the agents converge again",
          .timeLimit(.minutes(6)))
    func crashKeepsAcknowledgedReports() async throws {
        let devices = 30
        try await Self.withServerProcess { process, server in
            let everyLinux = try await server.must(.POST, "/api/v1/groups", ["name": "every linux device", "membershipRule": #"device.platform -eq "linux""#])
            let policy = try await server.createPolicy("crash", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [try #require(everyLinux.objectValue?["id"]?.stringValue)])
            let token = try await server.createEnrollmentToken(maxUses: devices)
            let simulator = Self.simulator(server: process.baseURL, token: token, devices: devices, waitSeconds: 5, directory: server.directory)
            let run = Task { try await simulator.run(duration: .seconds(330)) }
            defer { run.cancel() }
            try await Self.waitUntil("all \(devices) devices reported", timeout: .seconds(180)) {
                simulator.metrics.snapshot().devicesReported == devices
            }

            // Keep reports coming: a new configuration every 200 ms, then SIGKILL mid-stream.
            let levels = ["normal", "moderate", "high", "high_plus", "zero_tolerance"]
            let changes = Task {
                var index = 0
                while !Task.isCancelled {
                    _ = try? await server.api(.PUT, "/api/v1/policies/\(policy)", [
                        "name": "crash", "platform": "linux", "template": "antivirus",
                        "settings": ["cloudService.enabled": true, "cloudService.cloudBlockLevel": .string(levels[index % levels.count])],
                    ])
                    index += 1
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            let reportsBefore = simulator.metrics.snapshot().reports
            try await Task.sleep(for: .seconds(3))
            // Kill the moment some agent holds an acknowledged report of the last configuration
            // while the others are still catching up. Not while changes still come: an agent
            // seen acknowledged would already have the next configuration on its way (and then
            // a report pending when the server dies); and not at a fixed moment: on a loaded
            // machine CI once found all 30 agents mid-cycle (0 acknowledged) 3 s into it.
            changes.cancel()
            _ = await changes.result
            let fleet = server.directory + "/fleet/devices"
            let lastConfigurations = try await server.sql { sql in
                try await sql.raw("SELECT device_id, configuration_hash FROM device_configurations").all().reduce(into: [String: String]()) {
                    $0[try $1.decode(column: "device_id", as: String.self)] = try $1.decode(column: "configuration_hash", as: String.self)
                }
            }
            let clock = ContinuousClock()
            let watching = clock.now
            while clock.now - watching < .seconds(60), try !Self.acknowledgedReports(fleet).contains(where: { lastConfigurations[$0.key] == $0.value }) {
                try await Task.sleep(for: .milliseconds(10))
            }
            process.signal(SIGKILL)
            #expect(try await process.waitForExit(within: .seconds(10)) != nil)
            #expect(simulator.metrics.snapshot().reports > reportsBefore, "reports were arriving when the server was killed")
            // Agents now fail to connect and back off; let the last answers they got settle.
            try await Task.sleep(for: .seconds(2))

            // What the agents hold as acknowledged: an applied configuration with no report of it
            // pending (an agent keeps a report until the server answered it).
            let acknowledged = try Self.acknowledgedReports(fleet)
            // Agents answered mid-stream still hold their newest report; the others are checked.
            #expect(!acknowledged.isEmpty, "some agents had their last report acknowledged (\(acknowledged.count) of \(devices))")
            let stored = try await Self.storedReportHashes(server)
            for (device, hash) in acknowledged {
                #expect(stored[device] == hash, "device \(device): acknowledged a report of \(hash.prefix(12)), stored \(stored[device]?.prefix(12) ?? "nothing")")
            }

            // Restarted on the same data: every device converges on the current configuration.
            let restarted = try await process.restarted()
            defer { restarted.kill() }
            try await Self.waitUntil("all \(devices) devices report the current configuration after the restart", timeout: .seconds(180)) {
                let report = try await server.must(.GET, "/api/v1/policies/\(policy)/report?limit=1")
                return report.objectValue?["summary"]?.objectValue?["succeeded"]?.integerValue == Int64(devices)
            }
            let current = try await server.sql { sql in
                try await sql.raw("SELECT c.device_id FROM device_configurations c JOIN device_reports r ON r.device_id = c.device_id AND r.configuration_hash = c.configuration_hash")
                    .all().count
            }
            #expect(current == devices)
            run.cancel()
            _ = await run.result
            try await simulator.shutdown()
        }
    }

    // MARK: Helpers

    /// A `palisade serve` process on a fresh data directory, and a `TestServer` whose API calls
    /// go to it (its store reads the same SQLite file).
    /// On PostgreSQL the process serves a fresh database (`--database`); its data directory
    /// then holds only the admin token and the CA. `ServeProcess.arguments` restarts it alike.
    static func withServerProcess(engine: StoreEngine = .sqlite, _ body: @Sendable (ServeProcess, TestServer) async throws -> Void) async throws {
        let directory = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let location: DatabaseLocation = switch engine {
        case .sqlite: .sqlite(path: directory + "/data/palisade.sqlite")
        case .postgres: .postgres(url: try await TestServer.createPostgresDatabase())
        }
        let arguments: [String] = if case .postgres(let url, _) = location { ["--database", url] } else { [] }
        let process = try await ServeProcess.start(dataDirectory: directory + "/data", port: try PrivatePostgres.freePort(), arguments: arguments)
        defer { process.kill() }
        try await Database.with(location, logger: TestServer.logger) { backend in
            let server = TestServer(baseURL: process.baseURL, store: PalisadeStore(backend: backend, logger: TestServer.logger),
                                    adminToken: try process.adminToken(), directory: directory)
            try await body(process, server)
        }
    }

    static func simulator(server: String, token: String, devices: Int, waitSeconds: Int, directory: String) -> FleetSimulator {
        FleetSimulator(configuration: .init(
            serverURL: server, enrollmentToken: token, devices: devices, platformMix: [(.linux, 1)], trust: .insecureHTTP,
            waitSeconds: waitSeconds, minimumInterval: .milliseconds(100), enrollConcurrency: 8, workDirectory: directory + "/fleet",
            backoffBase: .milliseconds(100), backoffMaximum: .seconds(1)), logger: TestServer.logger)
    }

    /// Each simulated agent's acknowledged report, as device id and configuration hash: an
    /// applied configuration with no report of it pending (state files are written atomically,
    /// so reading them while the agents run is safe).
    static func acknowledgedReports(_ fleet: String) throws -> [String: String] {
        var acknowledged: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: fleet) {
            let state = AgentStateDirectory(path: fleet + "/" + name + "/state")
            guard let enrollment = try state.enrollment(), let applied = try state.applied(), try state.pendingReport() == nil else { continue }
            acknowledged[enrollment.deviceId] = applied.hash
        }
        return acknowledged
    }

    /// Each device's stored report, as the configuration hash it was about.
    static func storedReportHashes(_ server: TestServer) async throws -> [String: String] {
        try await server.sql { sql in
            var hashes: [String: String] = [:]
            for row in try await sql.raw("SELECT device_id, configuration_hash FROM device_reports").all() {
                hashes[try row.decode(column: "device_id", as: String.self)] = try row.decode(column: "configuration_hash", as: String.self)
            }
            return hashes
        }
    }

    /// A series' value on the server's `/metrics` (the owner token may read it).
    static func metric(_ name: String, of server: TestServer) async throws -> Double? {
        let response = try await server.api(.GET, "/metrics")
        guard case .string(let text) = response.body else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    static func waitUntil(_ what: String, timeout: Duration, _ condition: @Sendable () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        while clock.now - started < timeout {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out after \(timeout) waiting until \(what)")
        throw CancellationError()
    }
}

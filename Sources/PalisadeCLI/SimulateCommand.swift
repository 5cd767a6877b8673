import ArgumentParser
import Foundation
import Logging
import PalisadeAgent
import PalisadeCore
import PalisadeSimulator

/// `palisade simulate`: a fleet of virtual agents in one process, for load tests and the
/// delivery benchmark (scripts/bench-delivery.sh).
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run N simulated devices (the real agent code, one key pair each) against a server.",
        discussion: """
            Each simulated device enrolls, long-polls, applies through the real enforcers into a \
            temporary directory of its own, and reports; Defender is a simulated tool answering \
            "healthy". Progress goes to stderr once a second; --json writes the metrics at the end \
            (and, with --progress-json, the progress lines as JSON on stdout).
            """)

    @Option(help: ArgumentHelp("The Palisade server, e.g. https://palisade.example.com:8080; repeat it to spread the devices over replicas (device i uses server i mod count).", valueName: "url"))
    var server: [String] = []
    @Option(help: ArgumentHelp("A file holding the enrollment token.", valueName: "file"))
    var tokenFile: String
    @Option(help: "How many simulated devices.")
    var devices: Int
    @Option(help: "Shares of each platform.")
    var platformMix: String = "linux=60,macos=20,windows=20"
    @Option(help: ArgumentHelp("Stop after this many seconds (default: run until interrupted).", valueName: "seconds"))
    var duration: Double?
    @Option(help: ArgumentHelp("Seconds at the start whose check-ins, latencies and CPU time are not counted (connections and TLS handshakes); --duration comes after it.", valueName: "seconds"))
    var warmUp: Double = 0
    @Option(help: ArgumentHelp("Write the metrics as JSON to this file when the run ends.", valueName: "file"))
    var json: String?
    @Option(help: ArgumentHelp("The server's CA certificate (PEM) to pin.", valueName: "file"))
    var caFile: String?
    @Flag(help: "Allow a plain http:// server.")
    var insecureHTTP = false
    @Option(help: "Long-poll length each check-in asks for, in seconds.")
    var waitSeconds: Int = 60
    @Option(help: "Pause after an \"unchanged\" answer, in milliseconds (the agent's default is 5000).")
    var minimumIntervalMs: Int = 5000
    @Option(help: "Enrollments in flight at once.")
    var enrollConcurrency: Int = 32
    @Option(help: "Where the simulated devices' directories go (default: a new temporary directory, removed at the end).")
    var workDir: String?
    @Option(help: ArgumentHelp("Names the devices (sim-RUNID-000001...); with --reuse-enrolled and the same --work-dir, a later run is the same fleet.", valueName: "id"))
    var runId: String?
    @Flag(help: "Devices already enrolled in --work-dir under --run-id skip enrollment (one enrolled fleet for several benchmark phases).")
    var reuseEnrolled = false
    @Flag(help: "Re-read each agent's key and state and build its signer every cycle, as agents did before the session was kept (to measure the difference).")
    var noSessionReuse = false
    @Flag(help: "Print each second's progress as one JSON line on stdout.")
    var progressJSON = false
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard devices > 0 else { throw ValidationError("--devices must be at least 1, got \(devices)") }
        do { try FleetSimulator.Configuration.validateServers(server, allowInsecureHTTP: insecureHTTP) } catch { throw ValidationError("\(error)") }
        if let runId, runId.isEmpty || runId.count > 32 || !runId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) {
            throw ValidationError("--run-id must be 1 to 32 letters, digits or dashes, got \"\(runId)\"")
        }
        if reuseEnrolled && (workDir == nil || runId == nil) {
            throw ValidationError("--reuse-enrolled needs --work-dir and --run-id (the fleet's directory and name from the run that enrolled it)")
        }
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive, got \(duration)") }
        guard warmUp >= 0 else { throw ValidationError("--warm-up must be 0 or more seconds, got \(warmUp)") }
        guard waitSeconds >= 0 else { throw ValidationError("--wait-seconds must be 0 or more, got \(waitSeconds)") }
        guard minimumIntervalMs >= 0 else { throw ValidationError("--minimum-interval-ms must be 0 or more, got \(minimumIntervalMs)") }
        guard enrollConcurrency > 0 else { throw ValidationError("--enroll-concurrency must be at least 1, got \(enrollConcurrency)") }
        do { _ = try FleetSimulator.Configuration.parsePlatformMix(platformMix) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        var logger = try logging.makeLogger(label: "palisade.simulate")
        // Thousands of agents logging each cycle would drown the progress lines.
        if logging.logLevel == "info" { logger.logLevel = .warning }
        guard let tokenData = FileManager.default.contents(atPath: tokenFile),
              let token = String(data: tokenData, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
            throw ValidationError("cannot read an enrollment token from --token-file \(tokenFile)")
        }
        var trust = ServerTrust(allowInsecureHTTP: insecureHTTP)
        if let caFile {
            guard let pem = FileManager.default.contents(atPath: caFile).flatMap({ String(data: $0, encoding: .utf8) }) else {
                throw ValidationError("cannot read --ca-file \(caFile)")
            }
            trust.pinnedCAPEM = pem
        }
        let ownsWorkDirectory = workDir == nil
        let directory = workDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("palisade-simulate-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if ownsWorkDirectory { try? FileManager.default.removeItem(atPath: directory) } }

        var configuration = FleetSimulator.Configuration(
            serverURL: server[0], enrollmentToken: token, devices: devices, platformMix: try FleetSimulator.Configuration.parsePlatformMix(platformMix),
            trust: trust, waitSeconds: waitSeconds, minimumInterval: .milliseconds(minimumIntervalMs), enrollConcurrency: enrollConcurrency,
            workDirectory: directory)
        configuration.serverURLs = server
        if let runId { configuration.runId = runId }
        configuration.reuseEnrolled = reuseEnrolled
        configuration.reusesSession = !noSessionReuse
        let simulator = FleetSimulator(configuration: configuration, logger: logger)
        let progressJSON = self.progressJSON
        let warmUp = self.warmUp
        // Unstructured: the signal handlers below (dispatch sources, outside any task) cancel it.
        let runTask = Task { try await simulator.run(duration: duration.map { .milliseconds(Int64(($0 + warmUp) * 1000)) }) }
        // SIGINT/SIGTERM stop the run and still write the metrics.
        let signals = [SIGINT, SIGTERM].map { signalNumber -> any DispatchSourceSignal in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler { runTask.cancel() }
            source.resume()
            return source
        }
        // Progress lines and the end of the warm-up, beside the run, until it ends.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    let s = simulator.metrics.snapshot()
                    FileHandle.standardError.write(Data(String(format: "[%6.1fs] enrolled %d  online %d  check-ins %d (unchanged %d)  reports %d (succeeded %d)  errors %d\n",
                                                               s.elapsedSeconds, s.enrolled, s.online, s.checkIns, s.unchangedCheckIns, s.reports, s.succeededReports, s.errors).utf8))
                    if progressJSON, let line = try? encoder.encode(s) {
                        FileHandle.standardOutput.write(line + Data("\n".utf8))
                    }
                }
            }
            group.addTask {
                guard warmUp > 0, (try? await Task.sleep(for: .milliseconds(Int64(warmUp * 1000)))) != nil else { return }
                simulator.metrics.restartMeasurement()
            }
            _ = await runTask.result
            group.cancelAll()
        }
        signals.forEach { $0.cancel() }
        try await simulator.shutdown()
        let report = simulator.metrics.report()
        let s = report.summary
        FileHandle.standardError.write(Data("simulate: \(s.enrolled)/\(devices) enrolled, \(s.checkIns) check-ins (\(s.unchangedCheckIns) unchanged, \(String(format: "%.0f", report.unchangedCheckInsPerSecond))/s, p50 \(report.unchangedCycleLatency.p50Ms ?? 0) ms, p99 \(report.unchangedCycleLatency.p99Ms ?? 0) ms), \(s.reports) reports, \(s.errors) errors\n".utf8))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
    }
}

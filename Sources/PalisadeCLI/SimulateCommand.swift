import ArgumentParser
import Foundation
import Logging
import PalisadeAgent
import PalisadeCore

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

    @Option(help: ArgumentHelp("The Palisade server, e.g. https://palisade.example.com:8080.", valueName: "url"))
    var server: String
    @Option(help: ArgumentHelp("A file holding the enrollment token.", valueName: "file"))
    var tokenFile: String
    @Option(help: "How many simulated devices.")
    var devices: Int
    @Option(help: "Shares of each platform.")
    var platformMix: String = "linux=60,macos=20,windows=20"
    @Option(help: ArgumentHelp("Stop after this many seconds (default: run until interrupted).", valueName: "seconds"))
    var duration: Double?
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
    @Flag(help: "Print each second's progress as one JSON line on stdout.")
    var progressJSON = false
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard devices > 0 else { throw ValidationError("--devices must be at least 1, got \(devices)") }
        guard server.hasPrefix("https://") || (server.hasPrefix("http://") && insecureHTTP) else {
            throw ValidationError("--server must be an https:// URL (or http:// with --insecure-http), got \"\(server)\"")
        }
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive, got \(duration)") }
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

        let simulator = FleetSimulator(configuration: .init(
            serverURL: server, enrollmentToken: token, devices: devices, platformMix: try FleetSimulator.Configuration.parsePlatformMix(platformMix),
            trust: trust, waitSeconds: waitSeconds, minimumInterval: .milliseconds(minimumIntervalMs), enrollConcurrency: enrollConcurrency,
            workDirectory: directory), logger: logger)
        let progressJSON = self.progressJSON
        let progress = Task {
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
        let runTask = Task { try await simulator.run(duration: duration.map { .milliseconds(Int64($0 * 1000)) }) }
        // SIGINT/SIGTERM stop the run and still write the metrics.
        let signals = [SIGINT, SIGTERM].map { signalNumber -> any DispatchSourceSignal in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler { runTask.cancel() }
            source.resume()
            return source
        }
        _ = await runTask.result
        signals.forEach { $0.cancel() }
        progress.cancel()
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

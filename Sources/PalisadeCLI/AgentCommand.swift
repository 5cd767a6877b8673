import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import PalisadeAgent
import PalisadeCore
import ServiceLifecycle
import UnixSignals

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "The device agent: enroll, run, status, install-service.",
        subcommands: [Enroll.self, Run.self, Status.self, InstallService.self, UninstallService.self])

    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enroll this device from an onboarding package, or with a server URL and an enrollment token file.",
            discussion: """
                The token is read from a file so that it never shows in a process list. The server's CA \
                (from the package, or --ca-file) is kept in the state directory and is the only CA the \
                agent trusts for this server from then on.
                """)

        @Option(help: ArgumentHelp("An onboarding package (POST /api/v1/onboarding-packages): server, CA and token.", valueName: "file"))
        var package: String?
        @Option(help: ArgumentHelp("The Palisade server, e.g. https://palisade.example.com:8080 (without --package).", valueName: "url"))
        var server: String?
        @Option(help: ArgumentHelp("A file holding the enrollment token (without --package).", valueName: "file"))
        var tokenFile: String?
        @Option(help: ArgumentHelp("The server's CA certificate (PEM) to pin (with --server; default: the system's trust roots).", valueName: "file"))
        var caFile: String?
        @Flag(help: "Allow a plain http:// server (only behind a TLS-terminating proxy on the same host, or for tests).")
        var insecureHTTP = false
        @Option(help: "Where the agent keeps its key and state.")
        var stateDir: String
        @Option(help: "Prefix of every path the enforcers touch (tests, demos).")
        var root: String = "/"
        @Option(help: "Override the detected platform: linux, macos, windows, windowsServer.")
        var platform: DevicePlatform?
        @Option(help: "Override the detected hostname.")
        var hostname: String?
        @Option(help: "Override the detected hardware id.")
        var hardwareId: String?
        @Option(name: .customLong("tag"), help: "A tag this device reports (repeatable); rules read it beside admin tags.")
        var tags: [String] = []
        @Flag(help: "Enroll again even if this state directory is enrolled.")
        var force = false
        @OptionGroup var logging: LoggingOptions

        func validate() throws {
            if package != nil {
                guard server == nil, tokenFile == nil, caFile == nil else {
                    throw ValidationError("--package carries the server, the token and the CA: drop --server, --token-file and --ca-file")
                }
            } else {
                guard let server, tokenFile != nil else {
                    throw ValidationError("give --package FILE, or --server URL with --token-file FILE")
                }
                guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
                    throw ValidationError("--server must be an https:// (or, with --insecure-http, http://) URL, got \"\(server)\"")
                }
            }
        }

        func run() async throws {
            let logger = try logging.makeLogger(label: "palisade.agent")
            let probe = DeviceInventoryProbe(root: EnforcementRoot(root), platform: platform, hostname: hostname, hardwareId: hardwareId, tags: tags)
            let (package, server, tokenFile, caFile, insecureHTTP, force, stateDir) = (self.package, self.server, self.tokenFile, self.caFile, self.insecureHTTP, self.force, self.stateDir)
            try await withAgentHTTPClient { httpClient in
                let agent = PalisadeAgent(state: AgentStateDirectory(path: stateDir), httpClient: httpClient, logger: logger)
                let enrollment: AgentStateDirectory.Enrollment
                if let package {
                    enrollment = try await agent.enroll(package: try PalisadeAgent.readPackage(at: package), probe: probe, force: force, allowInsecureHTTP: insecureHTTP)
                } else {
                    let token = try readSecret(tokenFile!, what: "--token-file")
                    let pem = try caFile.map { try readSecret($0, what: "--ca-file") }
                    enrollment = try await agent.enroll(serverURL: server!, token: token, probe: probe, force: force,
                                                        trust: ServerTrust(pinnedCAPEM: pem, allowInsecureHTTP: insecureHTTP))
                }
                print("Enrolled as device \(enrollment.deviceId) (\(enrollment.platform.rawValue), \(enrollment.hostname)) with \(enrollment.serverURL).")
                if let pinned = enrollment.caSHA256 { print("Pinned CA SHA-256 fingerprint: \(pinned)") }
            }
        }

        /// A file's text without surrounding whitespace.
        func readSecret(_ path: String, what: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AgentError.invalidArgument("cannot read \(what) \(path)")
            }
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw AgentError.invalidArgument("\(what) \(path) is empty") }
            return text
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check in, apply and report; keeps running unless --once.")

        @Option(help: "Where the agent keeps its key and state.")
        var stateDir: String
        @Flag(help: "One check-in, apply, report, then exit.")
        var once = false
        @Option(help: "How long the server may hold each check-in open, in seconds.")
        var waitSeconds: Int = 60
        @OptionGroup var logging: LoggingOptions

        func run() async throws {
            let logger = try logging.makeLogger(label: "palisade.agent")
            let (stateDir, once, waitSeconds) = (self.stateDir, self.once, self.waitSeconds)
            try await withAgentHTTPClient { httpClient in
                let agent = PalisadeAgent(state: AgentStateDirectory(path: stateDir), httpClient: httpClient, options: .init(waitSeconds: waitSeconds), logger: logger)
                if once {
                    switch try await agent.runCycle(waitSeconds: 0) {
                    case .unchanged(let hash):
                        print("Configuration unchanged (\(hash)).")
                    case .applied(let report):
                        let counts = Dictionary(grouping: report.results, by: \.state).mapValues(\.count)
                        let summary = counts.keys.sorted { $0.rawValue < $1.rawValue }.map { "\($0.rawValue): \(counts[$0]!)" }.joined(separator: ", ")
                        print("Applied configuration \(report.configurationHash) (\(summary.isEmpty ? "no settings" : summary)).")
                        if let detail = report.detail { print("Note: \(detail)") }
                    }
                } else {
                    let group = ServiceGroup(configuration: .init(services: [AgentService(agent: agent)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
                    try await group.run()
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show enrollment, the applied configuration and the agent's health.")

        @Option(help: "Where the agent keeps its key and state.")
        var stateDir: String

        func run() async throws {
            let state = AgentStateDirectory(path: stateDir)
            do {
                guard let enrollment = try state.enrollment() else { throw AgentError.notEnrolled(stateDirectory: stateDir) }
                let health = try state.health()
                print("Device:        \(enrollment.deviceId) (\(enrollment.platform.rawValue), \(enrollment.hostname))")
                print("Server:        \(enrollment.serverURL)")
                print("Trust:         \(enrollment.caSHA256.map { "pinned CA, SHA-256 \($0)" } ?? (enrollment.serverURL.hasPrefix("http://") ? "none (plain HTTP, --insecure-http)" : "the system's trust roots"))")
                print("Enrolled at:   \(enrollment.enrolledAt.ISO8601Format())")
                print("Last check-in: \(health.lastCheckInAt?.ISO8601Format() ?? "never")")
                if health.retired { print("State:         RETIRED by the administrator; enroll again to manage this device") }
                if let error = health.lastError {
                    print("Last error:    \(error) (\(health.consecutiveFailures) failures in a row)")
                }
                let defender = try state.defenderState()
                if let observed = defender.observed {
                    print("Defender:      \(Self.describe(observed.status))")
                    if let at = defender.observedAt { print("               (read with \(observed.source) at \(at.ISO8601Format()))") }
                } else {
                    print("Defender:      not read yet")
                }
                if let applied = try state.applied() {
                    // The states of docs/STATES.md, as last reported to the server.
                    print("Configuration: \(applied.hash), applied \(applied.appliedAt.ISO8601Format())")
                    if let detail = applied.report.detail { print("Note:          \(detail)") }
                    for result in applied.report.results {
                        print("  \(result.settingId): \(result.state.rawValue)\(result.detail.map { " (\($0))" } ?? "")")
                    }
                } else {
                    print("Configuration: none received yet")
                }
                if let pending = try state.pendingReport() {
                    print("A status report is waiting to be sent\(pending.drift.map { " (with \($0.count) drift events)" } ?? "").")
                }
            } catch let error as AgentError {
                throw CLIFailure.exit(error)
            }
        }

        static func describe(_ status: DefenderStatus) -> String {
            guard status.installed else { return "not installed (\(status.detail ?? "not found")): settings stay pending" }
            var parts = [status.summary]
            if let version = status.version { parts.append("version \(version)") }
            if let realTime = status.realTimeProtectionEnabled { parts.append("real-time protection \(realTime ? "on" : "off")") }
            if status.passiveMode == true { parts.append("passive mode") }
            if let definitions = status.definitionsVersion {
                let age = status.definitionsUpdatedAt.flatMap(DefenderStatus.date).map { " updated \($0.ISO8601Format())" } ?? ""
                parts.append("definitions \(definitions)\(age)")
            }
            if let tamper = status.tamperProtection { parts.append("tamper protection \(tamper)") }
            parts.append(status.organizationId.map { "onboarded to \($0)" } ?? "not onboarded")
            if let detail = status.detail { parts.append(detail) }
            return parts.joined(separator: ", ")
        }
    }
}

/// The agent loop as a service, so SIGTERM/SIGINT stop it cleanly.
struct AgentService: Service {
    let agent: PalisadeAgent

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await agent.run()
        }
    }
}

/// Runs `body` with the agent's HTTP client, shuts the client down, and turns agent errors
/// into a message and exit code.
func withAgentHTTPClient(_ body: (HTTPClient) async throws -> Void) async throws {
    let httpClient = HTTPClient.palisadeAgent()
    do {
        try await body(httpClient)
        try await httpClient.shutdown()
    } catch let error as AgentError {
        try? await httpClient.shutdown()
        throw CLIFailure.exit(error)
    } catch {
        try? await httpClient.shutdown()
        throw error
    }
}

/// Prints an agent error on stderr and exits non-zero (3 for a retired device, so that
/// service managers and scripts can tell it apart).
enum CLIFailure {
    static func exit(_ error: AgentError) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        if case .retired = error { return ExitCode(3) }
        return ExitCode.failure
    }
}

extension DevicePlatform: ExpressibleByArgument {}

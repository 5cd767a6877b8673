import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
// The agent's simulation hooks (a Defender monitor shared by many agents, the session
// re-read every cycle, unsynced writes) are SPI: only this module opts in to them.
@_spi(Simulation) import PalisadeAgent
import PalisadeCore
@_spi(Simulation) import PalisadeSupport

/// A load simulator: `devices` virtual agents in one process, each with its own key pair and
/// state directory, each running the real agent (`PalisadeAgent.runCycle`: enroll, long-poll
/// check-in, apply, report) against a real server.
///
/// What is simulated: each virtual device's file system is a temporary directory (its state
/// directory and its enforcement root, where the real enforcers write the managed files or the
/// file-backed registry), and Defender's tool is a SIMULATED `mdatp`/`powershell` script shared
/// by every device that answers "healthy", so that written settings report `succeeded`.
/// The devices of one platform share one Defender reading, cached for an hour, so the script
/// runs about once per platform: a process per device (10,000 of them, each holding a thread
/// of a two-thread pool while it runs) would measure the simulator, not the server.
public final class FleetSimulator: Sendable {
    public struct Configuration: Sendable {
        /// The first server; devices are spread over `serverURLs` by index (device i enrolls
        /// with server i mod count), e.g. replicas sharing one PostgreSQL database.
        public var serverURL: String { serverURLs[0] }
        public var serverURLs: [String]
        public var enrollmentToken: String
        public var devices: Int
        /// Shares of each platform, e.g. [.linux: 60, .macos: 20, .windows: 20].
        public var platformMix: [(DevicePlatform, Int)]
        public var trust: ServerTrust
        /// Long-poll length asked for on each check-in.
        public var waitSeconds: Int
        /// Pause after a check-in the server answered "unchanged" (the agent's own rule).
        public var minimumInterval: Duration
        /// Enrollments in flight at once.
        public var enrollConcurrency: Int
        /// Where the virtual devices' directories go (removed by the caller).
        public var workDirectory: String
        public var backoffBase: Duration
        public var backoffMaximum: Duration
        /// Part of every device's hostname and hardware id, so that two runs against one server
        /// are different devices (the same hardware id with a new key waits for approval).
        public var runId: String = String(UUID().uuidString.lowercased().prefix(8))
        /// Devices whose state directory (same work directory and run id) already holds an
        /// enrollment skip enrolling: one enrolled fleet serves several benchmark phases.
        public var reuseEnrolled = false
        /// Keep each agent's session between cycles (the agent's default).
        public var reusesSession = true

        public init(serverURL: String, enrollmentToken: String, devices: Int, platformMix: [(DevicePlatform, Int)] = [(.linux, 60), (.macos, 20), (.windows, 20)],
                    trust: ServerTrust, waitSeconds: Int = 60, minimumInterval: Duration = .seconds(5), enrollConcurrency: Int = 32,
                    workDirectory: String, backoffBase: Duration = .seconds(1), backoffMaximum: Duration = .seconds(30)) {
            self.serverURLs = [serverURL]
            self.enrollmentToken = enrollmentToken
            self.devices = devices
            self.platformMix = platformMix
            self.trust = trust
            self.waitSeconds = waitSeconds
            self.minimumInterval = minimumInterval
            self.enrollConcurrency = enrollConcurrency
            self.workDirectory = workDirectory
            self.backoffBase = backoffBase
            self.backoffMaximum = backoffMaximum
        }

        /// Parses "linux=60,macos=20,windows=20".
        public static func parsePlatformMix(_ text: String) throws -> [(DevicePlatform, Int)] {
            var mix: [(DevicePlatform, Int)] = []
            for part in text.split(separator: ",") {
                let pieces = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pieces.count == 2, let platform = DevicePlatform(rawValue: pieces[0]), let share = Int(pieces[1]), share >= 0 else {
                    throw AgentError.invalidArgument("--platform-mix: \"\(part)\" is not PLATFORM=SHARE (platforms: \(DevicePlatform.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                mix.append((platform, share))
            }
            guard mix.contains(where: { $0.1 > 0 }) else { throw AgentError.invalidArgument("--platform-mix needs at least one positive share") }
            return mix
        }

        /// Checks a list of server URLs (`--server`, repeatable).
        public static func validateServers(_ servers: [String], allowInsecureHTTP: Bool) throws {
            guard !servers.isEmpty else { throw AgentError.invalidArgument("--server: give at least one server URL") }
            for server in servers {
                guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), url.host?.isEmpty == false,
                      scheme == "https" || (scheme == "http" && allowInsecureHTTP) else {
                    throw AgentError.invalidArgument("--server must be an https:// URL (or http:// with --insecure-http), got \"\(server)\"")
                }
            }
            let normalized = servers.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            if let duplicate = normalized.first(where: { url in normalized.filter { $0 == url }.count > 1 }) {
                throw AgentError.invalidArgument("--server \(duplicate) is given twice")
            }
        }

        /// The platform of device `index`, spread by the mix's shares.
        func platform(of index: Int) -> DevicePlatform {
            let total = platformMix.reduce(0) { $0 + $1.1 }
            var slot = index % total
            for (platform, share) in platformMix {
                if slot < share { return platform }
                slot -= share
            }
            return platformMix[0].0
        }
    }

    public let configuration: Configuration
    public let metrics = SimulationMetrics()
    let httpClient: HTTPClient
    let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var http = HTTPClient.Configuration()
        http.timeout.connect = .seconds(10)
        http.connectionPool.retryConnectionEstablishment = false
        // One connection per virtual device, as N real devices would have (the default of 8
        // per host would queue every long-poll behind eight).
        http.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(configuration.devices + 16, 64)
        http.connectionPool.idleTimeout = .seconds(120)
        http.redirectConfiguration = .disallow
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    public func shutdown() async throws {
        try await httpClient.shutdown()
    }

    /// Enrolls every device, then runs their check-in loops until `duration` has passed (nil:
    /// until cancelled).
    public func run(duration: Duration?) async throws {
        let tools = configuration.workDirectory + "/simulated-defender-tools"
        try SimulatedDefenderTool.install(in: tools)
        var monitors: [DevicePlatform: DefenderMonitor] = [:]
        for platform in DevicePlatform.allCases {
            monitors[platform] = DefenderMonitor(runner: CommandRunner(searchPath: [tools], timeout: .seconds(10)), maximumAge: .seconds(3600))
        }
        let defenders = monitors
        let started = ContinuousClock.now
        metrics.markStarted()
        // The virtual devices' files live in temporary directories: written atomically, not
        // synced (see AtomicFile.syncsToDisk).
        try await AtomicFile.$syncsToDisk.withValue(false) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let gate = EnrollmentGate(permits: configuration.enrollConcurrency)
                for index in 0..<configuration.devices {
                    let platform = configuration.platform(of: index)
                    group.addTask { await self.runDevice(index: index, platform: platform, defender: defenders[platform]!, gate: gate) }
                }
                if let duration {
                    group.addTask {
                        try await Task.sleep(until: started + duration, clock: .continuous)
                        throw CancellationError()
                    }
                }
                do {
                    // next(), not waitForAll(): the latter waits for every device before throwing.
                    while try await group.next() != nil {}
                } catch is CancellationError {
                    group.cancelAll()
                }
            }
        }
        metrics.markStopped()
    }

    private func runDevice(index: Int, platform: DevicePlatform, defender: DefenderMonitor, gate: EnrollmentGate) async {
        let name = "sim-\(configuration.runId)-" + String(format: "%06d", index)
        let base = configuration.workDirectory + "/devices/\(name)"
        let options = PalisadeAgent.Options(waitSeconds: configuration.waitSeconds, backoffBase: configuration.backoffBase, backoffMaximum: configuration.backoffMaximum,
                                            minimumInterval: configuration.minimumInterval)
        let serverURL = configuration.serverURLs[index % configuration.serverURLs.count]
        var agent = PalisadeAgent(
            state: AgentStateDirectory(path: base + "/state"), httpClient: httpClient,
            options: options, sharingDefenderMonitor: defender, logger: logger)
        agent.reusesSession = configuration.reusesSession
        let probe = DeviceInventoryProbe(root: EnforcementRoot(base + "/root"), platform: platform, hostname: name, hardwareId: "sim-hw-\(name)", tags: ["simulated"])
        let clock = ContinuousClock()

        // Enrollment, retried on transient failures.
        var failures = 0
        let enrolledBefore = configuration.reuseEnrolled && (try? agent.state.enrollment()) != nil
        if enrolledBefore { metrics.recordReusedEnrollment() }
        while !enrolledBefore && !Task.isCancelled {
            do {
                try await gate.acquire()
                defer { gate.release() }
                let began = clock.now
                _ = try await agent.enroll(serverURL: serverURL, token: configuration.enrollmentToken, probe: probe, force: true, trust: configuration.trust)
                metrics.recordEnrollment(latency: clock.now - began)
                break
            } catch is CancellationError {
                return
            } catch {
                metrics.recordError("enroll: \(error)")
                failures += 1
                if let agentError = error as? AgentError, !agentError.isTransient { return }
                // A 429 says when to come back (the server limits enrollments per address).
                let delay = Self.retryDelay(of: error) ?? PalisadeAgent.backoff(failures: failures, base: configuration.backoffBase, maximum: configuration.backoffMaximum)
                try? await Task.sleep(for: delay)
            }
        }

        // The agent's loop (as PalisadeAgent.run, with its timing and retry waits), each cycle timed.
        var streak = FailureStreak()
        while !Task.isCancelled {
            metrics.adjustOnline(+1)
            let began = clock.now
            do {
                let outcome = try await agent.runCycle(waitSeconds: configuration.waitSeconds)
                let elapsed = clock.now - began
                metrics.adjustOnline(-1)
                streak = FailureStreak()
                switch outcome {
                case .unchanged:
                    metrics.recordUnchanged(latency: elapsed)
                    if elapsed < configuration.minimumInterval {
                        try await Task.sleep(for: configuration.minimumInterval - elapsed)
                    }
                case .applied(let report):
                    // Counted as reported only once the server took it (nothing left pending).
                    let sent = (try? agent.state.pendingReport()) == nil
                    metrics.recordApplied(device: index, hash: report.configurationHash, sent: sent,
                                          succeeded: !report.results.isEmpty && report.results.allSatisfy { $0.state == .succeeded }, latency: elapsed)
                }
            } catch is CancellationError {
                metrics.adjustOnline(-1)
                return
            } catch {
                metrics.adjustOnline(-1)
                if Task.isCancelled { return }
                metrics.recordError("check-in: \(error)")
                if let agentError = error as? AgentError, !agentError.isTransient { return }
                let timing = PalisadeAgent.Timing(options: options, schedule: (try? agent.state.schedule()) ?? nil)
                try? await Task.sleep(for: streak.failed(error, at: clock.now, options: options, timing: timing))
            }
        }
    }
}

extension FleetSimulator {
    /// "try again in N s" of a 429 refusal, with up to a second of jitter.
    public static func retryDelay(of error: any Error) -> Duration? {
        guard case AgentError.server(429, _, let message) = error,
              let range = message.range(of: #"try again in (\d+) s"#, options: .regularExpression) else { return nil }
        let seconds = Int(message[range].split(separator: " ")[3]) ?? 1
        return .seconds(seconds) + .milliseconds(Int64.random(in: 0...1000))
    }
}

/// Bounds how many enrollments are in flight (a fleet switched on at once would otherwise open
/// N connections and generate N key pairs in the same instant).
final class EnrollmentGate: Sendable {
    private let state: NIOLockedValueBox<(free: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(permits: Int) { state = NIOLockedValueBox((max(permits, 1), [])) }

    func acquire() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLockedValue { state -> Bool in
                if state.free > 0 { state.free -= 1; return true }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
        try Task.checkCancellation()
    }

    func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty { state.free += 1; return nil }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// A SIMULATED Defender tool (Defender cannot be installed here): a script named `mdatp` and
/// `powershell` that answers a healthy device's health reading, so written settings verify as
/// `succeeded` (no effective setting values are reported, so none can mismatch).
enum SimulatedDefenderTool {
    static let linuxHealth = #"{"healthy":true,"health_issues":[],"licensed":true,"app_version":"101.24092.0002","definitions_status":"up_to_date","release_ring":"Production"}"#
    static let windowsStatus = #"{"AMServiceEnabled":true,"AntivirusEnabled":true,"RealTimeProtectionEnabled":true,"AMProductVersion":"4.18.24050.7","AMRunningMode":"Normal","DefenderSignaturesOutOfDate":false,"IsTamperProtected":true}"#

    static func install(in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (tool, answer) in [("mdatp", linuxHealth), ("powershell", windowsStatus)] {
            let script = "#!/bin/sh\n# SIMULATED Defender tool for palisade simulate.\ncat <<'EOF'\n\(answer)\nEOF\n"
            let path = directory + "/" + tool
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
    }
}

import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import PalisadeCore
// SPI for AtomicFile.syncsToDisk, carried to the thread that applies a configuration.
@_spi(Simulation) import PalisadeSupport
import PalisadeIdentity

/// The agent: enrolls once, then checks in (long-poll), applies what it receives through the
/// platform's enforcer, and reports the state of every setting. Keeps the last good
/// configuration and any unsent report in its state directory, so it survives restarts and
/// server outages.
public struct PalisadeAgent: Sendable {
    public struct Options: Sendable {
        /// How long each check-in may be held open by the server.
        public var waitSeconds: Int = 60
        /// Backoff after failures: base doubles up to the maximum, with jitter.
        public var backoffBase: Duration = .seconds(1)
        public var backoffMaximum: Duration = .seconds(300)
        /// Shortest time between two check-ins, should a server answer long-polls at once.
        public var minimumInterval: Duration = .seconds(5)
        /// How long a reading of Defender's health is reused before `mdatp` (or PowerShell) runs again.
        public var defenderMaximumAge: Duration = .seconds(60)
        /// How long Defender's tools may take before the agent gives up on them.
        public var toolTimeout: Duration = .seconds(10)
        /// Where Defender's tools are looked for (nil: the agent's PATH).
        public var toolSearchPath: [String]?

        public init(waitSeconds: Int = 60, backoffBase: Duration = .seconds(1), backoffMaximum: Duration = .seconds(300), minimumInterval: Duration = .seconds(5),
                    defenderMaximumAge: Duration = .seconds(60), toolTimeout: Duration = .seconds(10), toolSearchPath: [String]? = nil) {
            self.waitSeconds = waitSeconds
            self.backoffBase = backoffBase
            self.backoffMaximum = backoffMaximum
            self.minimumInterval = minimumInterval
            self.defenderMaximumAge = defenderMaximumAge
            self.toolTimeout = toolTimeout
            self.toolSearchPath = toolSearchPath
        }
    }

    public let state: AgentStateDirectory
    public let httpClient: HTTPClient
    public let logger: Logger
    public var options: Options
    /// The time the agent signs its assertions with and records in its state.
    public let clock: any WallClock
    /// Defender's presence and health, read with its own tools and cached.
    public let defender: DefenderMonitor
    /// The session of the last cycle, reused while its files are unchanged.
    let sessions = SessionCache()
    /// Keep the loaded session (key, signer, client) between cycles; false re-reads it every
    /// cycle, as agents before issue 12 did. Exists only so that the load simulator can measure
    /// what keeping it saves (`palisade simulate --no-session-reuse`, scripts/bench-delivery.sh):
    /// SPI, not an option, so that no agent in production can turn it off.
    @_spi(Simulation) public var reusesSession = true

    public init(state: AgentStateDirectory, httpClient: HTTPClient, options: Options = .init(), clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.init(state: state, httpClient: httpClient, options: options, clock: clock,
                  defender: DefenderMonitor(runner: CommandRunner(searchPath: options.toolSearchPath, timeout: options.toolTimeout), maximumAge: options.defenderMaximumAge),
                  logger: logger)
    }

    /// An agent reading Defender through `defender`, a monitor shared with other agents in this
    /// process. Exists only for the load simulator, whose virtual devices of one platform share
    /// one reading of one SIMULATED tool (a process per device would measure the simulator, not
    /// the server): SPI, so that a real agent always reads Defender with its own monitor.
    @_spi(Simulation) public init(state: AgentStateDirectory, httpClient: HTTPClient, options: Options = .init(), clock: any WallClock = SystemWallClock(),
                                  sharingDefenderMonitor defender: DefenderMonitor, logger: Logger) {
        self.init(state: state, httpClient: httpClient, options: options, clock: clock, defender: defender, logger: logger)
    }

    private init(state: AgentStateDirectory, httpClient: HTTPClient, options: Options, clock: any WallClock, defender: DefenderMonitor, logger: Logger) {
        self.state = state
        self.httpClient = httpClient
        self.options = options
        self.clock = clock
        self.logger = logger
        self.defender = defender
    }

    // MARK: Enrollment

    /// Enrolls from an onboarding package (`palisade agent enroll --package`): its server,
    /// token and CA, which is pinned for every later request. The package's CA must match its
    /// own fingerprint (a package damaged or edited in one place is refused).
    public func enroll(package: OnboardingPackage, probe: DeviceInventoryProbe, force: Bool = false, allowInsecureHTTP: Bool = false) async throws -> AgentStateDirectory.Enrollment {
        var trust = ServerTrust(allowInsecureHTTP: allowInsecureHTTP)
        if let pem = package.caCertificate {
            let actual: String
            do {
                actual = try CertificateFingerprint.sha256(firstCertificateIn: pem)
            } catch {
                throw AgentError.invalidArgument("the package's caCertificate holds no usable PEM certificate (\(error)); get a new package")
            }
            guard let expected = package.caSHA256 else {
                throw AgentError.invalidArgument("the package has a caCertificate but no caSHA256 to check it against")
            }
            guard CertificateFingerprint.matches(actual, expected) else {
                throw AgentError.invalidArgument("the package's caCertificate (SHA-256 \(actual)) does not match its caSHA256 \(expected); get a new package")
            }
            trust.pinnedCAPEM = pem
        }
        return try await enroll(serverURL: package.serverURL, token: package.enrollmentToken, probe: probe, force: force, trust: trust)
    }

    /// Reads an onboarding package file.
    public static func readPackage(at path: String) throws -> OnboardingPackage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AgentError.invalidArgument("cannot read the onboarding package \(path)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(OnboardingPackage.self, from: data)
        } catch {
            throw AgentError.invalidArgument("\(path) is not an onboarding package (POST /api/v1/onboarding-packages answers one): \(error)")
        }
    }

    /// Generates the device key (unless one exists), enrolls, and records the enrollment with
    /// the trust it was made under: the pinned CA is kept in the state directory and every
    /// later request trusts exactly it.
    public func enroll(serverURL: String, token: String, probe: DeviceInventoryProbe, force: Bool = false, trust: ServerTrust) async throws -> AgentStateDirectory.Enrollment {
        let client = try DeviceProtocolClient(serverURL: serverURL, httpClient: httpClient, trust: trust)
        // The enrollment records the pinned CA's fingerprint, which every later start checks the
        // kept CA against: a CA whose fingerprint cannot be read is refused here, not recorded
        // as no pin at all.
        if let pem = trust.pinnedCAPEM {
            do {
                _ = try CertificateFingerprint.sha256(firstCertificateIn: pem)
            } catch {
                throw AgentError.invalidArgument("the CA certificate to pin cannot be read: \(error)")
            }
        }
        try state.prepare()
        if let existing = try state.enrollment(), !force, existing.serverURL == serverURL {
            throw AgentError.alreadyEnrolled(deviceId: existing.deviceId, stateDirectory: state.path)
        }
        var inventory = try probe.inventory()
        let observation = await defender.observe(platform: inventory.platform, registry: Self.registry(root: probe.root), now: clock.now)
        inventory.defender = observation.status
        inventory.defenderInstalled = observation.status.installed
        let keyPair: DeviceKeyPair
        if let pem = state.privateKeyPEM() {
            keyPair = try DeviceKeyPair(privateKeyPEM: pem)
        } else {
            keyPair = DeviceKeyPair.generate()
            try state.savePrivateKey(keyPair.privateKeyPEM)
        }
        let response = try await client.enroll(.init(enrollmentToken: token, publicKey: keyPair.publicKeyPEM, inventory: inventory))
        sessions.clear()
        let enrollment = AgentStateDirectory.Enrollment(
            serverURL: serverURL, deviceId: response.deviceId, tenantId: response.tenantId, platform: inventory.platform,
            hostname: inventory.hostname, hardwareId: inventory.hardwareId, root: probe.root.path, enrolledAt: clock.now, tags: probe.tags,
            caSHA256: trust.pinnedFingerprint, insecureHTTP: trust.allowInsecureHTTP ? true : nil)
        // The CA first: an enrollment never names a CA that is not on disk.
        try state.savePinnedCA(trust.pinnedCAPEM)
        try state.save(enrollment)
        try state.save(AgentStateDirectory.Health.initial)
        try state.save(AgentStateDirectory.DefenderState(observed: observation, reported: observation.status, observedAt: clock.now))
        logger.info("enrolled", metadata: ["device": "\(response.deviceId)", "reenrolled": "\(response.reenrolled)"])
        return enrollment
    }

    // MARK: Check-in loop

    struct Session: Sendable {
        var enrollment: AgentStateDirectory.Enrollment
        var client: DeviceProtocolClient
        var signer: DeviceAssertionSigner
        var enforcer: any ConfigurationEnforcer
        var probe: DeviceInventoryProbe
        var registry: any RegistryStore
    }

    /// The session the next cycle runs with: the one already built while the enrollment, key
    /// and pinned CA files are the ones it was built from (re-enrollment or an edited file
    /// builds a new one). Re-reading them and building a signer every cycle was about a quarter
    /// of the agent's CPU per unchanged check-in (BENCHMARKS.md, issue 12).
    func session() async throws -> Session {
        guard reusesSession else { return try await loadSession() }
        let stamp = [state.enrollmentPath, state.keyPath, state.pinnedCAPath].map(FileStamp.init(path:))
        if let cached = sessions.session(ifBuiltFrom: stamp) { return cached }
        let session = try await loadSession()
        sessions.keep(session, builtFrom: stamp)
        return session
    }

    private func loadSession() async throws -> Session {
        guard let enrollment = try state.enrollment(), let pem = state.privateKeyPEM() else {
            throw AgentError.notEnrolled(stateDirectory: state.path)
        }
        let root = EnforcementRoot(enrollment.root)
        let enforcer: any ConfigurationEnforcer = switch enrollment.platform {
        case .linux: LinuxManagedFileEnforcer(root: root)
        case .macos: MacOSManagedPreferencesEnforcer(root: root)
        case .windows, .windowsServer:
            WindowsRegistryEnforcer(registry: Self.registry(root: root), managedValuesPath: state.file("windows-managed-values.json"))
        }
        return Session(
            enrollment: enrollment,
            client: try DeviceProtocolClient(serverURL: enrollment.serverURL, httpClient: httpClient, trust: try state.serverTrust(for: enrollment)),
            signer: try await DeviceAssertionSigner(deviceId: enrollment.deviceId, privateKeyPEM: pem, clock: clock),
            enforcer: enforcer,
            probe: DeviceInventoryProbe(root: root, platform: enrollment.platform, hostname: enrollment.hostname, hardwareId: enrollment.hardwareId, tags: enrollment.tags ?? []),
            registry: Self.registry(root: root))
    }

    /// The real registry on Windows; elsewhere a file-backed stand-in under the root.
    static func registry(root: EnforcementRoot) -> any RegistryStore {
        #if os(Windows)
        Win32Registry()
        #else
        FileBackedRegistry(root: root)
        #endif
    }

    /// What one cycle did, for `--once` and tests.
    public enum CycleOutcome: Sendable, Equatable {
        case unchanged(hash: String)
        case applied(DeviceProtocol.StatusReport)
    }

    /// One cycle: send any unsent report, check in (waiting up to `waitSeconds`), apply a
    /// new configuration or repair drift, report.
    public func runCycle(waitSeconds: Int) async throws -> CycleOutcome {
        do {
            return try await cycle(waitSeconds: waitSeconds)
        } catch AgentError.retired(let device, let message) {
            // Whichever call learnt it (a report, a check-in), the state says so.
            var health = try state.health()
            health.retired = true
            try state.save(health)
            throw AgentError.retired(deviceId: device, message: message)
        }
    }

    private func cycle(waitSeconds: Int) async throws -> CycleOutcome {
        let session = try await session()
        try await flushPendingReport(session)
        var applied = try state.applied()
        let observation = try await observeDefender(session)

        if let current = applied, current.configuration.leaveUntouched != true {
            let findings = session.enforcer.drift(from: current.configuration)
            if !findings.isEmpty {
                // Someone changed the managed values behind our back: put them back and say so.
                logger.warning("managed configuration drifted; re-applying", metadata: ["hash": "\(current.hash)", "settings": "\(findings.map(\.settingId))"])
                let detectedAt = clock.now.ISO8601Format()
                let events = findings.map { finding in
                    DriftEvent(id: UUID().uuidString.lowercased(), settingId: finding.settingId, found: Self.clipped(finding.found),
                               restored: Self.clipped(finding.expected), detail: finding.detail, detectedAt: detectedAt)
                }
                applied = try await apply(current.configuration, session: session, observation: observation, drift: events)
            } else if current.defender != observation {
                // Defender was installed, removed, or its effective values moved: the states may have too.
                applied = try await reverify(current, observation: observation, session: session)
            }
        }

        let wroteSettings = applied.map { $0.configuration.leaveUntouched != true && !$0.configuration.settings.isEmpty } ?? false
        var defenderState = try state.defenderState()
        let news = defenderState.reported.map { observation.status.sameForReporting(as: $0) } == true ? nil : observation.status
        var inventory = try? session.probe.inventory(palisadeWroteSettings: wroteSettings)
        inventory?.defenderInstalled = observation.status.installed
        inventory?.defender = news
        let response = try await session.client.checkIn(.init(configurationHash: applied?.hash, waitSeconds: waitSeconds, inventory: inventory), signer: session.signer)
        if let news, inventory != nil {
            defenderState.reported = news
            try state.save(defenderState)
        }
        var health = try state.health()
        health.lastCheckInAt = clock.now
        health.consecutiveFailures = 0
        health.lastError = nil
        try state.save(health)
        let schedule = response.schedule?.clamped
        if (try? state.schedule()) != schedule { try state.saveSchedule(schedule) }

        guard response.status == .changed, let configuration = response.configuration else {
            // "Sync now" on an unchanged configuration: apply what we hold again and report.
            if response.reportRequested == true, let current = applied, current.hash == response.configurationHash {
                logger.info("the server asked for a report; re-applying", metadata: ["hash": "\(current.hash)"])
                return .applied(try await apply(current.configuration, session: session, observation: observation, drift: []).report)
            }
            return .unchanged(hash: response.configurationHash)
        }
        let result = try await apply(configuration, session: session, observation: observation, drift: [])
        return .applied(result.report)
    }

    /// Reads Defender (cached for `defenderMaximumAge`) and keeps a changed reading in the state
    /// directory for `palisade agent status`.
    private func observeDefender(_ session: Session) async throws -> DefenderObservation {
        let observation = await defender.observe(platform: session.enrollment.platform, registry: session.registry, now: clock.now)
        var defenderState = try state.defenderState()
        if defenderState.observed != observation {
            if let previous = defenderState.observed?.status, previous.installed != observation.status.installed || previous.healthy != observation.status.healthy {
                logger.notice("Defender changed", metadata: ["now": "\(observation.status.summary)", "before": "\(previous.summary)"])
            }
            defenderState.observed = observation
            defenderState.observedAt = clock.now
            try state.save(defenderState)
        }
        return observation
    }

    /// A value too large to report whole is replaced by a note of its size.
    static func clipped(_ value: JSONValue?) -> JSONValue? {
        guard let value else { return nil }
        let size = CanonicalJSON.bytes(value).count
        return size <= 2_000 ? value : .string("(a value of \(size) bytes, not shown)")
    }

    private func apply(_ configuration: DeviceConfiguration, session: Session, observation: DefenderObservation, drift: [DriftEvent]) async throws -> AgentStateDirectory.AppliedConfiguration {
        // File work runs on NIO's thread pool, off the cooperative pool. A device whose Defender
        // settings another channel manages is left exactly as it is.
        let enforcer = session.enforcer
        let syncsToDisk = AtomicFile.syncsToDisk  // a task-local (false only in the simulator): carried to the pool's thread
        let enforcerReport = configuration.leaveUntouched == true
            ? DeviceProtocol.StatusReport(configurationHash: configuration.hash, results: [],
                                          detail: configuration.reason ?? "another channel manages Defender's settings; nothing was written")
            : try await BlockingWork.pool.runIfActive { AtomicFile.$syncsToDisk.withValue(syncsToDisk) { enforcer.apply(configuration) } }
        var report = configuration.leaveUntouched == true ? enforcerReport : DefenderVerification.report(enforcerReport, configuration: configuration, observation: observation)
        // Drift found earlier and not yet sent travels with this report.
        let unsent = (try? state.pendingReport())?.drift ?? []
        report.drift = unsent + drift
        if report.drift?.isEmpty == true { report.drift = nil }
        let applied = AgentStateDirectory.AppliedConfiguration(hash: configuration.hash, configuration: configuration, report: report, appliedAt: clock.now,
                                                               enforcerReport: enforcerReport, defender: observation)
        try state.save(applied)
        try state.savePendingReport(report)
        logger.info("applied configuration", metadata: ["hash": "\(applied.hash)", "settings": "\(configuration.settings.count)"])
        try await flushPendingReport(session)
        return applied
    }

    /// Re-derives the states of what is applied from a new reading of Defender, and reports them
    /// when they changed.
    private func reverify(_ applied: AgentStateDirectory.AppliedConfiguration, observation: DefenderObservation, session: Session) async throws -> AgentStateDirectory.AppliedConfiguration {
        var updated = applied
        updated.defender = observation
        if let enforcerReport = applied.enforcerReport {
            var report = DefenderVerification.report(enforcerReport, configuration: applied.configuration, observation: observation)
            report.drift = (try? state.pendingReport())?.drift
            if report.results != applied.report.results || report.detail != applied.report.detail {
                logger.info("setting states changed with Defender's", metadata: ["defender": "\(observation.status.summary)"])
                updated.report = report
                try state.save(updated)
                try state.savePendingReport(report)
                try await flushPendingReport(session)
                return updated
            }
        }
        try state.save(updated)
        return updated
    }

    /// Sends the report that could not be sent before, and forgets it only once the server
    /// has answered it: stored (2xx), about a configuration that is no longer the device's
    /// (409 `configuration_outdated`: the check-in that follows brings the current one), or
    /// refused as malformed. Anything else (no answer, 5xx, 401, 429) keeps it for the next
    /// cycle (at least once; the server stores a report idempotently).
    private func flushPendingReport(_ session: Session) async throws {
        guard let report = try state.pendingReport() else { return }
        do {
            _ = try await session.client.report(report, signer: session.signer)
            try state.savePendingReport(nil)
        } catch AgentError.server(409, DeviceProtocol.ErrorCode.configurationOutdated, let message) {
            logger.info("report of an outdated configuration; checking in for the current one", metadata: ["hash": "\(report.configurationHash)", "message": "\(message)"])
            try state.savePendingReport(nil)
        } catch AgentError.server(let status, let code, let message) where (400..<500).contains(status) && ![401, 403, 408, 429].contains(status) {
            // A report the server refuses as malformed would be refused for ever: drop it
            // rather than hold every later report behind it.
            logger.error("report refused; dropped", metadata: ["status": "\(status)", "code": "\(code)", "message": "\(message)"])
            try state.savePendingReport(nil)
        } catch let error as AgentError where error.isTransient {
            logger.warning("report not sent; will retry", metadata: ["error": "\(error)"])
        }
    }

    /// Runs until cancelled (graceful shutdown) or the device is retired. Transient failures
    /// (including a refused assertion, 401, and a server certificate the agent refuses) back off
    /// exponentially with jitter and are recorded in the health file; the last good
    /// configuration stays applied.
    public func run() async throws {
        var streak = FailureStreak()
        let monotonic = ContinuousClock()
        while !Task.isCancelled {
            // What the server last asked for (persisted), else the agent's own options.
            let timing = Timing(options: options, schedule: (try? state.schedule()) ?? nil)
            do {
                let started = monotonic.now
                let outcome = try await runCycle(waitSeconds: timing.waitSeconds)
                streak = FailureStreak()
                // The minimum interval only stops a server that answers "unchanged" at once from
                // making the agent spin; after a new configuration the next check-in goes out at
                // once, so a change made right after the last one is not held back.
                if case .unchanged = outcome {
                    let elapsed = monotonic.now - started
                    if elapsed < timing.minimumInterval {
                        try await Task.sleep(for: timing.minimumInterval - elapsed)
                    }
                }
            } catch let error as AgentError where error.isTransient {
                let delay = streak.failed(error, at: monotonic.now, options: options, timing: timing)
                var health = try state.health()
                health.lastError = error.description
                health.lastErrorAt = clock.now
                health.consecutiveFailures = streak.failures
                try state.save(health)
                logger.warning("check-in failed; retrying", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
                try? await Task.sleep(for: delay)
            } catch is CancellationError {
                return
            }
        }
    }

    /// No sooner than the server's Retry-After, plus up to a fifth more at random so that a
    /// fleet told the same time does not return in one burst.
    public static func honouring(retryAfter: Duration, backoff: Duration) -> Duration {
        let jitter = Duration.milliseconds(Int64.random(in: 0...max(retryAfter.milliseconds / 5, 0)))
        return max(backoff, retryAfter + jitter)
    }

    /// The long-poll length, minimum interval and return window in force: the server's
    /// schedule where it set them, the agent's options otherwise.
    public struct Timing: Sendable, Equatable {
        public var waitSeconds: Int
        public var minimumInterval: Duration
        public var returnWindow: Duration?

        public init(options: Options, schedule: DeviceProtocol.CheckInSchedule?) {
            let schedule = schedule?.clamped
            waitSeconds = schedule?.waitSeconds ?? options.waitSeconds
            minimumInterval = schedule?.checkInIntervalSeconds.map { .seconds($0) } ?? options.minimumInterval
            returnWindow = schedule?.returnWindowSeconds.flatMap { $0 > 0 ? .seconds($0) : nil }
        }
    }

    /// The wait before retrying after `failures` failures in a row, the first `failingFor`
    /// ago. Without a return window, `backoff`. With one, "full jitter" capped by the window: a
    /// uniformly random time up to the step (base doubling per failure, at most the window,
    /// which replaces the agent's own maximum), so that after an outage agents come back
    /// spread evenly over the server's window instead of in a herd.
    ///
    /// Either way the wait is at most twice the time already spent failing plus the base
    /// (equal jitter: each wait is at least half its step, so the time spent grows with the
    /// step; full jitter: the step is also capped by that time, since waits near zero could
    /// otherwise double it many times within a short outage). So an agent tries again by
    /// 3 T + base after an outage of T began: a server back within 5 s sees every agent within
    /// 11 s of its return (docs/PROTOCOL.md, "Agent behaviour").
    public static func retryDelay(failures: Int, failingFor: Duration, base: Duration, maximum: Duration, returnWindow: Duration?) -> Duration {
        guard let returnWindow, returnWindow > .zero else { return backoff(failures: failures, base: base, maximum: maximum) }
        let exponent = min(max(failures - 1, 0), 30)
        let step = min(base * (1 << exponent), returnWindow, max(base, failingFor))
        return .milliseconds(Int64.random(in: 0...max(step.milliseconds, 0)))
    }

    /// Exponential backoff with "equal jitter": half the step fixed, half random.
    public static func backoff(failures: Int, base: Duration, maximum: Duration) -> Duration {
        let exponent = min(max(failures - 1, 0), 30)
        let step = min(base * (1 << exponent), maximum)
        let half = step / 2
        let jitterMillis = Int64.random(in: 0...max(half.milliseconds, 0))
        return half + .milliseconds(jitterMillis)
    }
}

/// Failures in a row and when the first was: how long the agent (and each simulated device)
/// waits before trying again (`PalisadeAgent.retryDelay`, and a 503's Retry-After).
public struct FailureStreak: Sendable {
    public private(set) var failures = 0
    private var since: ContinuousClock.Instant?

    public init() {}

    /// Notes a failure at `now` and returns the wait before the next try.
    public mutating func failed(_ error: any Error, at now: ContinuousClock.Instant, options: PalisadeAgent.Options, timing: PalisadeAgent.Timing) -> Duration {
        failures += 1
        let since = self.since ?? now
        self.since = since
        let delay = PalisadeAgent.retryDelay(failures: failures, failingFor: now - since, base: options.backoffBase, maximum: options.backoffMaximum,
                                             returnWindow: timing.returnWindow)
        if case AgentError.serverUnavailable(_, _, let retryAfter) = error {
            return PalisadeAgent.honouring(retryAfter: retryAfter, backoff: delay)
        }
        return delay
    }
}

/// One cached session and the stamps of the files it was built from.
final class SessionCache: Sendable {
    private let entry = NIOLockedValueBox<(stamp: [FileStamp?], session: PalisadeAgent.Session)?>(nil)

    func session(ifBuiltFrom stamp: [FileStamp?]) -> PalisadeAgent.Session? {
        entry.withLockedValue { entry in entry.flatMap { $0.stamp == stamp ? $0.session : nil } }
    }

    func keep(_ session: PalisadeAgent.Session, builtFrom stamp: [FileStamp?]) {
        entry.withLockedValue { $0 = (stamp, session) }
    }

    func clear() { entry.withLockedValue { $0 = nil } }
}

/// What tells a rewritten file from the one read before: state files are replaced by rename
/// (a new file number) and their size and modification time change with them.
struct FileStamp: Equatable, Sendable {
    var modified: Date?
    var size: UInt64?
    var fileNumber: UInt64?

    /// nil when the file does not exist.
    init?(path: String) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        modified = attributes[.modificationDate] as? Date
        size = (attributes[.size] as? NSNumber)?.uint64Value
        fileNumber = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

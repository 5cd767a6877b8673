#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import PalisadeCore
import PalisadeSupport

/// What the agent keeps between runs, one file each in the state directory. The private key
/// is mode 0600 and never leaves the device.
public struct AgentStateDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Written once at enrollment.
    public struct Enrollment: Codable, Sendable, Equatable {
        public var serverURL: String
        public var deviceId: String
        public var tenantId: String
        public var platform: DevicePlatform
        public var hostname: String
        public var hardwareId: String
        public var root: String
        public var enrolledAt: Date
        /// Tags the agent reports for its device (`--tag`).
        public var tags: [String]?
        /// SHA-256 fingerprint of the CA pinned at enrollment (kept in `server-ca.pem`); nil: an
        /// `https://` server must chain to the system's roots.
        public var caSHA256: String?
        /// `--insecure-http` at enrollment: the server may be `http://`.
        public var insecureHTTP: Bool?
    }

    /// The last configuration applied, and what applying it gave.
    public struct AppliedConfiguration: Codable, Sendable, Equatable {
        public var hash: String
        public var configuration: DeviceConfiguration
        /// What was reported: the enforcer's results with Defender's part (docs/STATES.md).
        public var report: DeviceProtocol.StatusReport
        public var appliedAt: Date
        /// What the enforcer alone said (written, unwritable, not applicable), before Defender's
        /// presence and effective values were taken into account.
        public var enforcerReport: DeviceProtocol.StatusReport?
        /// The reading of Defender the report was made with; a different reading re-checks it.
        public var defender: DefenderObservation?
    }

    /// Defender as last read, and as last acknowledged by the server (sent with a check-in).
    public struct DefenderState: Codable, Sendable, Equatable {
        public var observed: DefenderObservation?
        public var reported: DefenderStatus?
        public var observedAt: Date?
    }

    /// Health of the agent for `palisade agent status`.
    public struct Health: Codable, Sendable, Equatable {
        public var lastCheckInAt: Date?
        public var lastError: String?
        public var lastErrorAt: Date?
        public var retired: Bool
        public var consecutiveFailures: Int

        public static let initial = Health(lastCheckInAt: nil, lastError: nil, lastErrorAt: nil, retired: false, consecutiveFailures: 0)
    }

    var keyPath: String { file("device-key.pem") }
    var enrollmentPath: String { file("enrollment.json") }
    var appliedPath: String { file("applied-configuration.json") }
    var pendingReportPath: String { file("pending-report.json") }
    var healthPath: String { file("health.json") }
    var pinnedCAPath: String { file("server-ca.pem") }
    var defenderPath: String { file("defender.json") }
    var schedulePath: String { file("schedule.json") }

    func file(_ name: String) -> String { URL(fileURLWithPath: path).appendingPathComponent(name).path }

    /// Creates the directory with mode 0700 (it holds the device's private key).
    public func prepare() throws {
        try AtomicFile.createDirectory(path, mode: 0o700)
        #if !os(Windows)
        chmod(path, 0o700)
        #endif
    }

    /// The CA pinned at enrollment, PEM.
    public func pinnedCAPEM() -> String? {
        AtomicFile.read(pinnedCAPath).map { String(decoding: $0, as: UTF8.self) }
    }

    public func savePinnedCA(_ pem: String?) throws {
        if let pem {
            try AtomicFile.write(Array(pem.utf8), to: pinnedCAPath, mode: 0o600)
        } else {
            try AtomicFile.remove(pinnedCAPath)
        }
    }

    /// Whom this enrollment trusts: the pinned CA (checked against the fingerprint recorded at
    /// enrollment), or the system's roots; and whether `http://` is allowed.
    public func serverTrust(for enrollment: Enrollment) throws -> ServerTrust {
        var trust = ServerTrust(allowInsecureHTTP: enrollment.insecureHTTP ?? false)
        if let expected = enrollment.caSHA256 {
            guard let pem = pinnedCAPEM() else {
                throw AgentError.stateUnreadable(path: pinnedCAPath, reason: "the CA pinned at enrollment is missing; enroll again")
            }
            let actual: String
            do {
                actual = try CertificateFingerprint.sha256(firstCertificateIn: pem)
            } catch {
                throw AgentError.stateUnreadable(path: pinnedCAPath, reason: "it holds no readable CA certificate (\(error)); enroll again")
            }
            guard CertificateFingerprint.matches(actual, expected) else {
                throw AgentError.stateUnreadable(path: pinnedCAPath, reason: "it is not the CA pinned at enrollment (SHA-256 \(expected)); enroll again")
            }
            trust.pinnedCAPEM = pem
        }
        return trust
    }

    public func privateKeyPEM() -> String? {
        AtomicFile.read(keyPath).map { String(decoding: $0, as: UTF8.self) }
    }

    public func savePrivateKey(_ pem: String) throws {
        try AtomicFile.write(Array(pem.utf8), to: keyPath, mode: 0o600)
    }

    public func enrollment() throws -> Enrollment? { try load(Enrollment.self, from: enrollmentPath) }
    public func save(_ enrollment: Enrollment) throws { try store(enrollment, to: enrollmentPath, mode: 0o600) }

    public func applied() throws -> AppliedConfiguration? { try load(AppliedConfiguration.self, from: appliedPath) }
    public func save(_ applied: AppliedConfiguration) throws { try store(applied, to: appliedPath, mode: 0o600) }

    public func pendingReport() throws -> DeviceProtocol.StatusReport? { try load(DeviceProtocol.StatusReport.self, from: pendingReportPath) }
    public func savePendingReport(_ report: DeviceProtocol.StatusReport?) throws {
        if let report {
            try store(report, to: pendingReportPath, mode: 0o600)
        } else {
            try AtomicFile.remove(pendingReportPath)
        }
    }

    public func defenderState() throws -> DefenderState { try load(DefenderState.self, from: defenderPath) ?? DefenderState() }
    public func save(_ defender: DefenderState) throws { try store(defender, to: defenderPath, mode: 0o600) }

    /// The check-in schedule the server last sent (nil: none; the agent's own options apply).
    public func schedule() throws -> DeviceProtocol.CheckInSchedule? { try load(DeviceProtocol.CheckInSchedule.self, from: schedulePath) }
    public func saveSchedule(_ schedule: DeviceProtocol.CheckInSchedule?) throws {
        if let schedule {
            try store(schedule, to: schedulePath, mode: 0o600)
        } else {
            try AtomicFile.remove(schedulePath)
        }
    }

    public func health() throws -> Health { try load(Health.self, from: healthPath) ?? .initial }
    public func save(_ health: Health) throws { try store(health, to: healthPath, mode: 0o600) }

    private func load<T: Decodable>(_ type: T.Type, from file: String) throws -> T? {
        guard let bytes = AtomicFile.read(file) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(type, from: Data(bytes))
        } catch {
            throw AgentError.stateUnreadable(path: file, reason: "\(error)")
        }
    }

    private func store<T: Encodable>(_ value: T, to file: String, mode: FileMode) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try AtomicFile.write(Array(try encoder.encode(value)), to: file, mode: mode)
    }
}

/// Errors the agent reports to its operator, each with what to do.
public enum AgentError: Error, CustomStringConvertible, Equatable {
    case notEnrolled(stateDirectory: String)
    case alreadyEnrolled(deviceId: String, stateDirectory: String)
    case stateUnreadable(path: String, reason: String)
    case server(status: Int, code: String, message: String)
    /// A 503 with Retry-After (the server's database is unreachable, say): retried no sooner
    /// than `retryAfter`.
    case serverUnavailable(code: String, message: String, retryAfter: Duration)
    case unreachable(String)
    case retired(deviceId: String, message: String)
    case invalidArgument(String)
    /// An `http://` server without `--insecure-http`.
    case insecureServer(serverURL: String)
    /// The server's certificate does not chain to the pinned CA (or, with none pinned, to the
    /// system's roots).
    case untrustedServer(serverURL: String, pinnedCA: String?, detail: String)
    /// The certificate chains to the trusted CA but names another host.
    case serverNameMismatch(serverURL: String, detail: String)

    public var description: String {
        switch self {
        case .notEnrolled(let directory): "this device is not enrolled (no enrollment in \(directory)); run `palisade agent enroll` first"
        case .alreadyEnrolled(let device, let directory): "already enrolled as device \(device) (state in \(directory)); use --force to enroll again"
        case .stateUnreadable(let path, let reason): "cannot read agent state \(path): \(reason)"
        case .server(let status, let code, let message): "server refused the request (HTTP \(status), \(code)): \(message)"
        case .serverUnavailable(let code, let message, let retryAfter): "server unavailable (HTTP 503, \(code), retry after \(retryAfter)): \(message)"
        case .unreachable(let reason): "server unreachable: \(reason)"
        case .retired(let device, let message): "device \(device) is retired: \(message)"
        case .invalidArgument(let message): message
        case .insecureServer(let url):
            "refusing \(url): it is plain http://, so anyone on the path could read and change what the agent sends and receives; use the server's https:// URL (an onboarding package has it), or enroll with --insecure-http where nothing untrusted is on the path"
        case .untrustedServer(let url, let pinned?, let detail):
            "refusing \(url): its certificate does not chain to the pinned CA (SHA-256 \(pinned)); this is not the server this device enrolled with, or its CA was replaced (then enroll again with a new onboarding package) [\(detail)]"
        case .untrustedServer(let url, nil, let detail):
            "refusing \(url): its certificate does not chain to a CA this system trusts; enroll with an onboarding package or --ca-file to pin the server's CA [\(detail)]"
        case .serverNameMismatch(let url, let detail):
            "refusing \(url): its certificate chains to the trusted CA but is not valid for this host name; start the server with --san for it [\(detail)]"
        }
    }

    /// Errors worth retrying later rather than stopping for: network failures; every answer of
    /// the server but a confirmed retirement (a 401 means the assertion was refused: the
    /// device's clock, or the server's, may have drifted, and the next cycle signs a fresh one;
    /// a 403 without `device_retired` may come from a proxy; a 5xx or 429 is overload); and a
    /// certificate the agent refuses (a network that intercepts TLS now may not later, and the
    /// agent never talks to it meanwhile). Only a confirmed retirement (403 `device_retired`,
    /// `.retired`) and what an operator must fix (state, arguments, an http:// server) stop it.
    public var isTransient: Bool {
        switch self {
        case .unreachable, .untrustedServer, .serverNameMismatch, .server, .serverUnavailable: true
        default: false
        }
    }
}

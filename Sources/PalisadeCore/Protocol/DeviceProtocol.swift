#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Wire types of the device protocol, `/device/v1` (see docs/PROTOCOL.md).
public enum DeviceProtocol {
    public static let basePath = "/device/v1"
    /// `Authorization: PalisadeDevice <jwt>` carries the device's signed assertion.
    public static let assertionScheme = "PalisadeDevice"
    /// Longest lifetime the server accepts for an assertion, and the clock skew it tolerates.
    public static let maximumAssertionLifetimeSeconds: Int64 = 300
    public static let allowedClockSkewSeconds: Int64 = 60
    /// Longest long-poll the server grants.
    public static let maximumWaitSeconds = 300

    /// What the agent tells about its device at enrollment and at check-in.
    public struct Inventory: Codable, Sendable, Hashable {
        public var hostname: String
        public var platform: DevicePlatform
        public var osVersion: String
        public var hardwareId: String
        public var agentVersion: String
        /// An MDM enrollment exists on the device (informational: Palisade still manages it).
        public var mdmEnrolled: Bool
        /// Defender's settings are already managed by another channel on this device.
        public var defenderManagedElsewhere: Bool?
        /// Whether Defender for Endpoint itself is installed.
        public var defenderInstalled: Bool?
        /// Tags from the device's own configuration (`palisade agent enroll --tag`).
        public var tags: [String]?
        /// Defender's presence and health; sent when it changed since the last check-in the
        /// server acknowledged (nil: no news, the server keeps what it has).
        public var defender: DefenderStatus?

        public init(hostname: String, platform: DevicePlatform, osVersion: String, hardwareId: String, agentVersion: String, mdmEnrolled: Bool, defenderManagedElsewhere: Bool? = nil, defenderInstalled: Bool? = nil, tags: [String]? = nil, defender: DefenderStatus? = nil) {
            self.hostname = hostname
            self.platform = platform
            self.osVersion = osVersion
            self.hardwareId = hardwareId
            self.agentVersion = agentVersion
            self.mdmEnrolled = mdmEnrolled
            self.defenderManagedElsewhere = defenderManagedElsewhere
            self.defenderInstalled = defenderInstalled
            self.tags = tags
            self.defender = defender
        }
    }

    public struct EnrollRequest: Codable, Sendable {
        public var enrollmentToken: String
        /// The device's P-256 public key, PEM (SubjectPublicKeyInfo).
        public var publicKey: String
        public var inventory: Inventory

        public init(enrollmentToken: String, publicKey: String, inventory: Inventory) {
            self.enrollmentToken = enrollmentToken
            self.publicKey = publicKey
            self.inventory = inventory
        }
    }

    public struct EnrollResponse: Codable, Sendable {
        public var deviceId: String
        public var tenantId: String
        /// True when an existing device record (same hardware id) was reused.
        public var reenrolled: Bool
        /// The hardware id is enrolled already with another key: the new key takes effect only
        /// once an administrator approves it (answered with 202).
        public var pendingApproval: Bool?

        public init(deviceId: String, tenantId: String, reenrolled: Bool, pendingApproval: Bool? = nil) {
            self.deviceId = deviceId
            self.tenantId = tenantId
            self.reenrolled = reenrolled
            self.pendingApproval = pendingApproval
        }
    }

    public struct CheckInRequest: Codable, Sendable {
        /// Hash of the configuration the agent holds; nil before its first configuration.
        public var configurationHash: String?
        /// How long the server may hold the request open waiting for a change (0: answer now).
        public var waitSeconds: Int?
        public var inventory: Inventory?

        public init(configurationHash: String?, waitSeconds: Int? = nil, inventory: Inventory? = nil) {
            self.configurationHash = configurationHash
            self.waitSeconds = waitSeconds
            self.inventory = inventory
        }
    }

    public enum CheckInStatus: String, Codable, Sendable {
        case unchanged
        case changed
    }

    public struct CheckInResponse: Codable, Sendable {
        public var status: CheckInStatus
        public var configurationHash: String
        /// Present when `status` is `changed`.
        public var configuration: DeviceConfiguration?
        /// An administrator asked for a sync ("sync now"): apply the configuration again and
        /// report every setting, even if it is the one already applied. Absent otherwise; agents
        /// that do not know it still apply and report, since the answer is `changed`.
        public var reportRequested: Bool?
        /// When the server wants the agent to check in (`palisade serve --check-in-interval`,
        /// `--long-poll-seconds`, `--return-window`); absent when the server leaves it to the
        /// agent. Agents that do not know it keep their own schedule.
        public var schedule: CheckInSchedule?

        public init(status: CheckInStatus, configurationHash: String, configuration: DeviceConfiguration?, reportRequested: Bool? = nil,
                    schedule: CheckInSchedule? = nil) {
            self.status = status
            self.configurationHash = configurationHash
            self.configuration = configuration
            self.reportRequested = reportRequested
            self.schedule = schedule
        }
    }

    /// The check-in schedule a server sets; every field optional (absent: the agent's own).
    public struct CheckInSchedule: Codable, Sendable, Hashable {
        /// The shortest time between two check-ins answered "unchanged" at once (the agent's
        /// minimum interval; never applied after a new configuration).
        public var checkInIntervalSeconds: Int?
        /// How long each check-in may be held open (the long-poll length), 0-300.
        public var waitSeconds: Int?
        /// After failures (an outage), agents retry at a random time within this many seconds,
        /// so that they come back spread over it rather than all at once.
        public var returnWindowSeconds: Int?

        public static let maximumIntervalSeconds = 3_600
        public static let maximumReturnWindowSeconds = 3_600

        public init(checkInIntervalSeconds: Int? = nil, waitSeconds: Int? = nil, returnWindowSeconds: Int? = nil) {
            self.checkInIntervalSeconds = checkInIntervalSeconds
            self.waitSeconds = waitSeconds
            self.returnWindowSeconds = returnWindowSeconds
        }

        /// Values clamped to what an agent accepts (a bad or hostile server cannot make it spin
        /// or go silent for days).
        public var clamped: CheckInSchedule {
            CheckInSchedule(checkInIntervalSeconds: checkInIntervalSeconds.map { min(max($0, 0), Self.maximumIntervalSeconds) },
                            waitSeconds: waitSeconds.map { min(max($0, 0), Int(DeviceProtocol.maximumWaitSeconds)) },
                            returnWindowSeconds: returnWindowSeconds.map { min(max($0, 0), Self.maximumReturnWindowSeconds) })
        }

        public var isEmpty: Bool { checkInIntervalSeconds == nil && waitSeconds == nil && returnWindowSeconds == nil }
    }

    /// What the agent reports per setting (docs/STATES.md). `conflict` is the server's own state;
    /// `pending` is also the server's until a report arrives, and the agent's for a setting
    /// written where Defender is not there (or not answering) to take it.
    public enum ReportedState: String, Codable, Sendable, Hashable {
        case succeeded
        case error
        case notApplicable
        case pending
    }

    public struct SettingResult: Codable, Sendable, Hashable {
        public var settingId: String
        public var state: ReportedState
        public var detail: String?

        public init(settingId: String, state: ReportedState, detail: String? = nil) {
            self.settingId = settingId
            self.state = state
            self.detail = detail
        }
    }

    public struct StatusReport: Codable, Sendable, Hashable {
        /// The configuration these results are about.
        public var configurationHash: String
        public var results: [SettingResult]
        /// A note about the whole application, e.g. "Defender is not installed".
        public var detail: String?
        /// Values the agent found changed behind its back and put back since its last report.
        public var drift: [DriftEvent]?

        public init(configurationHash: String, results: [SettingResult], detail: String? = nil, drift: [DriftEvent]? = nil) {
            self.configurationHash = configurationHash
            self.results = results
            self.detail = detail
            self.drift = drift
        }
    }

    public struct StatusReportResponse: Codable, Sendable {
        /// Always true: a report about another configuration than the current one is answered
        /// 409 `configuration_outdated` instead (servers before that answered `false`).
        public var current: Bool

        public init(current: Bool) {
            self.current = current
        }
    }

    /// Claims of the device's signed assertion (ES256 JWT).
    public enum AssertionClaim {
        /// `aud` is "<METHOD> <path>" of the request the assertion is for.
        public static func audience(method: String, path: String) -> String { "\(method) \(path)" }
    }

    /// Error codes the agent acts on.
    public enum ErrorCode {
        public static let deviceRetired = "device_retired"
        public static let deviceUnknown = "device_unknown"
        public static let assertionInvalid = "assertion_invalid"
        public static let assertionReplayed = "assertion_replayed"
        public static let enrollmentTokenInvalid = "enrollment_token_invalid"
        public static let enrollmentTokenExpired = "enrollment_token_expired"
        public static let enrollmentTokenExhausted = "enrollment_token_exhausted"
        /// Signed with a key an administrator has not approved yet: wait and retry.
        public static let reenrollmentPending = "reenrollment_pending"
        /// A status report about another configuration than the device's current one (409): it
        /// settles nothing; the agent drops it and checks in.
        public static let configurationOutdated = "configuration_outdated"
        /// The server cannot reach its database (503 with Retry-After): transient, retry later.
        public static let databaseUnavailable = "database_unavailable"
    }
}

/// The error body of every 4xx/5xx answer: `{"error": {"code", "message", "details"}}`.
public struct ErrorBody: Codable, Sendable, Hashable {
    public struct Content: Codable, Sendable, Hashable {
        public var code: String
        public var message: String
        public var details: JSONValue?
        /// The server's id for the request (also its `X-Request-Id` header).
        public var requestId: String?
    }

    public var error: Content

    public init(code: String, message: String, details: JSONValue? = nil, requestId: String? = nil) {
        self.error = Content(code: code, message: message, details: details, requestId: requestId)
    }
}

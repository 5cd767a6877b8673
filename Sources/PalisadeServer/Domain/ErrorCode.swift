import PalisadeCore

/// A stable, machine-readable error code. Admin and device codes live together here so
/// that a call site names a constant, never a string.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // Requests
    public static let invalidJSON = ErrorCode(rawValue: "invalid_json")
    public static let invalidRequest = ErrorCode(rawValue: "invalid_request")
    public static let payloadTooLarge = ErrorCode(rawValue: "payload_too_large")
    public static let notFound = ErrorCode(rawValue: "not_found")
    public static let methodNotAllowed = ErrorCode(rawValue: "method_not_allowed")
    public static let unauthorized = ErrorCode(rawValue: "unauthorized")
    public static let forbidden = ErrorCode(rawValue: "forbidden")
    public static let tokenExpired = ErrorCode(rawValue: "token_expired")
    public static let tokenRevoked = ErrorCode(rawValue: "token_revoked")
    public static let sessionExpired = ErrorCode(rawValue: "session_expired")
    public static let csrfTokenInvalid = ErrorCode(rawValue: "csrf_token_invalid")
    public static let invalidCredentials = ErrorCode(rawValue: "invalid_credentials")
    public static let accountLocked = ErrorCode(rawValue: "account_locked")
    public static let tooManyRequests = ErrorCode(rawValue: "too_many_requests")
    public static let internalError = ErrorCode(rawValue: "internal_error")
    /// The database cannot be reached (503 with Retry-After); agents back off and retry.
    public static let databaseUnavailable = ErrorCode(rawValue: DeviceProtocol.ErrorCode.databaseUnavailable)
    /// A write found the storage full (507); reads keep working.
    public static let storageFull = ErrorCode(rawValue: "storage_full")
    /// The request was cancelled: the server is stopping (or the client left).
    public static let serverStopping = ErrorCode(rawValue: "server_stopping")

    // Admin API
    public static let tenantExists = ErrorCode(rawValue: "tenant_exists")
    public static let userExists = ErrorCode(rawValue: "user_exists")
    public static let invalidSettings = ErrorCode(rawValue: "invalid_settings")
    public static let ambiguousSetting = ErrorCode(rawValue: "ambiguous_setting")
    public static let groupExists = ErrorCode(rawValue: "group_exists")
    public static let unknownDevice = ErrorCode(rawValue: "unknown_device")
    public static let unknownGroup = ErrorCode(rawValue: "unknown_group")
    public static let invalidRule = ErrorCode(rawValue: "invalid_rule")
    public static let dynamicGroup = ErrorCode(rawValue: "dynamic_group")
    public static let staticGroup = ErrorCode(rawValue: "static_group")
    public static let groupCycle = ErrorCode(rawValue: "group_cycle")

    // Device protocol (the agent acts on these: DeviceProtocol.ErrorCode)
    public static let invalidPublicKey = ErrorCode(rawValue: "invalid_public_key")
    public static let deviceRetired = ErrorCode(rawValue: DeviceProtocol.ErrorCode.deviceRetired)
    public static let deviceUnknown = ErrorCode(rawValue: DeviceProtocol.ErrorCode.deviceUnknown)
    public static let assertionInvalid = ErrorCode(rawValue: DeviceProtocol.ErrorCode.assertionInvalid)
    public static let assertionReplayed = ErrorCode(rawValue: DeviceProtocol.ErrorCode.assertionReplayed)
    public static let enrollmentTokenInvalid = ErrorCode(rawValue: DeviceProtocol.ErrorCode.enrollmentTokenInvalid)
    public static let enrollmentTokenExpired = ErrorCode(rawValue: DeviceProtocol.ErrorCode.enrollmentTokenExpired)
    public static let enrollmentTokenExhausted = ErrorCode(rawValue: DeviceProtocol.ErrorCode.enrollmentTokenExhausted)
    public static let reenrollmentPending = ErrorCode(rawValue: DeviceProtocol.ErrorCode.reenrollmentPending)
    public static let configurationOutdated = ErrorCode(rawValue: DeviceProtocol.ErrorCode.configurationOutdated)
    public static let noPendingReenrollment = ErrorCode(rawValue: "no_pending_reenrollment")
}

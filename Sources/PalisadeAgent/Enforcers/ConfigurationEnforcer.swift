import PalisadeCore

/// Applies a delivered configuration to one platform's Defender configuration surface and
/// says, per setting, what happened.
public protocol ConfigurationEnforcer: Sendable {
    /// Makes the device's managed configuration exactly `configuration`: writes managed keys,
    /// removes keys no longer managed, leaves everything else alone.
    func apply(_ configuration: DeviceConfiguration) -> DeviceProtocol.StatusReport

    /// True when what is on disk still matches `configuration` (drift detection).
    func isInPlace(_ configuration: DeviceConfiguration) -> Bool

    /// What differs from `configuration` on the device, per setting where the platform's store
    /// can be read back; empty when everything is in place.
    func drift(from configuration: DeviceConfiguration) -> [DriftFinding]
}

/// A managed value found changed behind the agent's back.
public struct DriftFinding: Sendable, Hashable {
    /// The setting, or `DriftEvent.wholeFile` when the file changed but no managed value did
    /// (or the platform's file cannot be read back per setting).
    public var settingId: String
    /// What was there; nil when missing.
    public var found: JSONValue?
    /// What the configuration says; nil when the setting is not managed.
    public var expected: JSONValue?
    public var detail: String?

    public init(settingId: String, found: JSONValue?, expected: JSONValue?, detail: String? = nil) {
        self.settingId = settingId
        self.found = found
        self.expected = expected
        self.detail = detail
    }
}

/// The root that every enforcer path is prefixed with (`--root`, default `/`).
public struct EnforcementRoot: Sendable, Equatable {
    public let path: String

    public init(_ path: String) {
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    public func resolve(_ relative: String) -> String {
        let trimmed = relative.hasPrefix("/") ? String(relative.dropFirst()) : relative
        return path == "/" ? "/" + trimmed : path + "/" + trimmed
    }
}

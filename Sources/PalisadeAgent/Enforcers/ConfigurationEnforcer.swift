import PalisadeCore

/// Applies a delivered configuration to one platform's Defender configuration surface and
/// says, per setting, what happened.
public protocol ConfigurationEnforcer: Sendable {
    /// Makes the device's managed configuration exactly `configuration`: writes managed keys,
    /// removes keys no longer managed, leaves everything else alone.
    func apply(_ configuration: DeviceConfiguration) -> DeviceProtocol.StatusReport

    /// True when what is on disk still matches `configuration` (drift detection).
    func isInPlace(_ configuration: DeviceConfiguration) -> Bool
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

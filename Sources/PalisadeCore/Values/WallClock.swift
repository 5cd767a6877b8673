#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The time of day, injected wherever a decision depends on it (expiry, stale devices, the
/// day rules see, assertion lifetimes), so that tests can move it instead of waiting for it.
public protocol WallClock: Sendable {
    var now: Date { get }
}

extension WallClock {
    /// Milliseconds since 1970: how the store keeps every time.
    public var nowMillis: Int64 { Int64((now.timeIntervalSince1970 * 1000).rounded()) }
}

/// The system's clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public var now: Date { Date() }
}

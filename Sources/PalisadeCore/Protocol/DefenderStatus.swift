#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the agent found out about Defender for Endpoint on its device: from
/// `mdatp health --output json` (Linux, macOS) or `Get-MpComputerStatus` (Windows).
/// Fields Defender did not report are nil; `detail` says why nothing more is known
/// (the tool is missing, timed out, answered something unreadable).
public struct DefenderStatus: Codable, Sendable, Hashable {
    /// Defender's command-line tool exists on the device.
    public var installed: Bool
    /// Defender's own version (`app_version`, `AMProductVersion`).
    public var version: String?
    /// Defender's own verdict (`healthy`); on Windows derived from the service and engine states.
    public var healthy: Bool?
    /// Defender's own health issues (`health_issues`), or on Windows the failed checks.
    public var healthIssues: [String]?
    public var realTimeProtectionEnabled: Bool?
    public var definitionsVersion: String?
    /// When the definitions were last updated, ISO 8601 (to the minute); their age follows from it.
    public var definitionsUpdatedAt: String?
    /// `up_to_date`, `updating`, `unavailable` (Linux, macOS) or `out_of_date` (Windows).
    public var definitionsStatus: String?
    /// The Defender for Endpoint organization the device is onboarded to (`org_id`); nil: not onboarded.
    public var organizationId: String?
    public var passiveMode: Bool?
    /// `disabled`, `audit`, `block` (Linux, macOS); `block` or `disabled` on Windows.
    public var tamperProtection: String?
    /// Why the status is incomplete, e.g. "mdatp was not found on the PATH".
    public var detail: String?

    public init(installed: Bool, version: String? = nil, healthy: Bool? = nil, healthIssues: [String]? = nil, realTimeProtectionEnabled: Bool? = nil,
                definitionsVersion: String? = nil, definitionsUpdatedAt: String? = nil, definitionsStatus: String? = nil, organizationId: String? = nil,
                passiveMode: Bool? = nil, tamperProtection: String? = nil, detail: String? = nil) {
        self.installed = installed
        self.version = version
        self.healthy = healthy
        self.healthIssues = healthIssues
        self.realTimeProtectionEnabled = realTimeProtectionEnabled
        self.definitionsVersion = definitionsVersion
        self.definitionsUpdatedAt = definitionsUpdatedAt
        self.definitionsStatus = definitionsStatus
        self.organizationId = organizationId
        self.passiveMode = passiveMode
        self.tamperProtection = tamperProtection
        self.detail = detail
    }

    /// One line for people: "Defender not installed", "Defender healthy", "Defender unhealthy: ...".
    public var summary: String {
        guard installed else { return "Defender not installed" }
        switch healthy {
        case true?: return "Defender healthy"
        case false?:
            let issues = healthIssues ?? []
            return issues.isEmpty ? "Defender unhealthy" : "Defender unhealthy: " + issues.joined(separator: "; ")
        case nil: return "Defender state unknown" + (detail.map { ": \($0)" } ?? "")
        }
    }

    /// Equal for reporting purposes: definitions times that differ by less than an hour are the
    /// same (the age is derived from minutes-ago counters that move on every reading).
    public func sameForReporting(as other: DefenderStatus) -> Bool {
        var left = self
        var right = other
        if let a = left.definitionsUpdatedAt.flatMap(Self.date), let b = right.definitionsUpdatedAt.flatMap(Self.date), abs(a.timeIntervalSince(b)) < 3_600 {
            left.definitionsUpdatedAt = nil
            right.definitionsUpdatedAt = nil
        }
        return left == right
    }

    /// Parses the ISO 8601 times of the device protocol (`2026-11-27T02:18:53Z`).
    public static func date(_ text: String) -> Date? {
        try? Date(text, strategy: .iso8601)
    }
}

/// A managed value the agent found changed behind its back and put back.
public struct DriftEvent: Codable, Sendable, Hashable {
    /// Chosen by the agent; the same event sent twice is stored once.
    public var id: String
    /// The setting, or `(file)` when the managed file or plist changed without any managed
    /// setting differing (unmanaged keys added, formatting).
    public var settingId: String
    /// The value found; nil when it was missing.
    public var found: JSONValue?
    /// The value put back; nil when the setting was removed (no longer managed).
    public var restored: JSONValue?
    public var detail: String?
    /// ISO 8601, e.g. `2026-11-27T02:18:53Z`.
    public var detectedAt: String

    public static let wholeFile = "(file)"

    public init(id: String, settingId: String, found: JSONValue?, restored: JSONValue?, detail: String? = nil, detectedAt: String) {
        self.id = id
        self.settingId = settingId
        self.found = found
        self.restored = restored
        self.detail = detail
        self.detectedAt = detectedAt
    }
}

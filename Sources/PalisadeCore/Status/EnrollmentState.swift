#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a device stands in enrollment, as the enrollment report shows it.
public enum EnrollmentState: String, Codable, Sendable, Hashable, CaseIterable {
    /// Managed and checking in.
    case enrolled
    /// Its hardware enrolled again with another key; waiting for an administrator.
    case pendingReenrollment
    /// Not seen for longer than the tenant's stale threshold.
    case stale
    /// The tenant's enforcement scope leaves it out (platform switched off, not tagged).
    case outOfScope
    /// Another channel (an MDM, another tool) manages Defender's settings on it.
    case managedElsewhere
    /// Retired by an administrator; its agent is refused.
    case retired
}

/// What the enrollment report knows of a device, and the state and readable reason it derives
/// from them. Pure: the server fills in the facts.
public struct EnrollmentFacts: Sendable, Hashable {
    public var platform: DevicePlatform
    public var managedBy: ManagementChannel
    public var tags: [String]
    public var isRetired: Bool
    public var retiredAt: Date?
    public var enrolledAt: Date
    public var lastCheckInAt: Date?
    public var pendingSince: Date?
    public var pendingSource: String?

    public init(platform: DevicePlatform, managedBy: ManagementChannel, tags: [String], isRetired: Bool, retiredAt: Date? = nil,
                enrolledAt: Date, lastCheckInAt: Date?, pendingSince: Date? = nil, pendingSource: String? = nil) {
        self.platform = platform
        self.managedBy = managedBy
        self.tags = tags
        self.isRetired = isRetired
        self.retiredAt = retiredAt
        self.enrolledAt = enrolledAt
        self.lastCheckInAt = lastCheckInAt
        self.pendingSince = pendingSince
        self.pendingSource = pendingSource
    }

    /// The one state that matters most, in this order: retired, pending re-enrollment,
    /// managed elsewhere, out of scope, stale, enrolled; with a sentence saying why.
    /// `withReason: false` leaves the reason empty (a summary over many devices needs only
    /// the state).
    public func state(scope: EnforcementScope, staleAfterDays: Int, now: Date, withReason: Bool = true) -> (state: EnrollmentState, reason: String) {
        func reason(_ text: @autoclosure () -> String) -> String { withReason ? text() : "" }
        if isRetired {
            return (.retired, reason("retired by an administrator" + (retiredAt.map { " on \(Self.day($0))" } ?? "")))
        }
        if let pendingSince {
            let source = pendingSource.map { " from \($0)" } ?? ""
            return (.pendingReenrollment, reason("enrolled again with a new key\(source) \(Self.ago(pendingSince, now: now)); waiting for an administrator's approval"))
        }
        if managedBy != .palisade, !(scope.takeOver[platform] ?? false) {
            return (.managedElsewhere, reason("another channel (\(managedBy.rawValue)) manages Defender's settings; the tenant has not chosen to take over \(platform.rawValue) devices"))
        }
        if case .excluded(let why) = scope.decision(platform: platform, tags: tags, managedBy: managedBy) {
            return (.outOfScope, why)
        }
        let lastSeen = lastCheckInAt ?? enrolledAt
        if lastSeen < now.addingTimeInterval(-Double(staleAfterDays) * 86_400) {
            return (.stale, reason((lastCheckInAt.map { "last seen \(Self.ago($0, now: now))" } ?? "enrolled \(Self.ago(enrolledAt, now: now)) and never checked in")
                                   + "; stale after \(staleAfterDays) day\(staleAfterDays == 1 ? "" : "s")"))
        }
        return (.enrolled, reason(lastCheckInAt.map { "last seen \(Self.ago($0, now: now))" } ?? "enrolled \(Self.ago(enrolledAt, now: now)); no check-in yet"))
    }

    /// "12 days ago", "3 hours ago", "5 minutes ago", "just now".
    public static func ago(_ date: Date, now: Date) -> String {
        let seconds = Int(now.timeIntervalSince(date))
        func unit(_ n: Int, _ name: String) -> String { "\(n) \(name)\(n == 1 ? "" : "s") ago" }
        if seconds >= 86_400 { return unit(seconds / 86_400, "day") }
        if seconds >= 3_600 { return unit(seconds / 3_600, "hour") }
        if seconds >= 60 { return unit(seconds / 60, "minute") }
        return "just now"
    }

    /// The UTC day, e.g. 2026-11-20 (civil-from-days, so that only FoundationEssentials is needed).
    static func day(_ date: Date) -> String {
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ n: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(n).count)) + String(n) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }
}

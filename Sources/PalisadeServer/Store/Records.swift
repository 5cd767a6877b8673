import Foundation
import PalisadeCore

/// Milliseconds since 1970: how every time is stored, identically on both engines.
/// The current time comes from the store's `WallClock`.
enum Timestamp {
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
    static func optionalDate(_ millis: Int64?) -> Date? { millis.map(date) }
}

enum Identifier {
    static func make() -> String { UUID().uuidString.lowercased() }

    /// A secret of 32 random bytes, base64url, with a prefix naming its kind.
    static func secret(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let base64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return prefix + base64
    }
}

public struct Tenant: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var createdAt: Date
}

public struct EnrollmentToken: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var expiresAt: Date
    public var maxUses: Int?
    public var uses: Int
    public var revokedAt: Date?
    public var createdAt: Date
    /// Devices may enroll again under an existing hardware id with a new key (a re-imaging
    /// wave); otherwise such an enrollment waits for an administrator's approval.
    public var allowReenrollment: Bool
}

public enum EnrollmentStatus: String, Codable, Sendable {
    case enrolled
    case retired
}

public struct Device: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var platform: DevicePlatform
    public var osVersion: String
    public var hardwareId: String
    public var agentVersion: String
    public var managedBy: ManagementChannel
    public var mdmEnrolled: Bool
    public var defenderInstalled: Bool?
    /// Defender's presence and health as the agent last reported them (nil: never reported).
    public var defender: DefenderStatus?
    /// One line for lists and reports: "Defender not installed", "Defender healthy", ...
    public var defenderSummary: String?
    public var enrollmentStatus: EnrollmentStatus
    public var enrolledAt: Date
    public var lastCheckInAt: Date?
    /// Tags set by admins (`PATCH /devices/{id}`).
    public var tags: [String]
    /// Tags the agent reports from the device's own configuration; kept apart from admin tags.
    public var agentTags: [String]
    /// Someone enrolled this device's hardware id again with another key; an administrator
    /// approves it (`POST /devices/{id}/approve-reenrollment`) or it never takes effect.
    public var pendingReenrollment: PendingReenrollment?
    /// Whether Palisade manages the device under the tenant's enforcement scope, and if not why.
    public var management: ManagementState?
    /// Not seen for longer than the tenant's stale threshold. Flagged only: memberships and
    /// assignments are kept; only an admin's explicit action removes a device.
    public var stale: Bool?
    /// An administrator asked the device to check in and report ("sync now") and it has not
    /// reported since; it will be asked on its next check-in.
    public var syncRequestedAt: Date? = nil
    /// The worst state over the device's settings, from its last report (device list and
    /// device reads only).
    public var reportState: SettingState? = nil

    /// What membership rules read: admin tags and agent tags as separate attributes.
    var ruleAttributes: DeviceAttributes {
        DeviceAttributes(
            platform: platform.rawValue, osVersion: osVersion, name: name, tags: tags, agentTags: agentTags, managementType: managedBy.rawValue,
            agentVersion: agentVersion, enrolledAt: enrolledAt.ISO8601Format(), lastCheckInAt: lastCheckInAt.map(Self.ruleDay) ?? "",
            defenderInstalled: (defender?.installed ?? defenderInstalled).map { $0 ? "true" : "false" } ?? "",
            defenderHealthy: defender?.healthy.map { $0 ? "true" : "false" } ?? "", defenderVersion: defender?.version ?? "")
    }

    /// What the device's agent last reported, as compared with a new inventory.
    var inventoryFacts: InventoryFacts {
        InventoryFacts(hostname: name, osVersion: osVersion, agentVersion: agentVersion, mdmEnrolled: mdmEnrolled, agentTags: agentTags, managedBy: managedBy,
                       defenderInstalled: defender?.installed ?? defenderInstalled, defenderHealthy: defender?.healthy, defenderVersion: defender?.version)
    }

    /// The UTC day rules see for a time, e.g. 2026-11-26.
    static func ruleDay(_ date: Date) -> String {
        String(date.ISO8601Format().prefix(10))
    }
}

public struct PendingReenrollment: Codable, Sendable, Hashable {
    public var since: Date
    public var sourceAddress: String?
    /// SHA-256 of the new public key (PEM), to compare with what the device's owner sees.
    public var publicKeySHA256: String
}

public struct DeviceGroup: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var description: String
    /// Set for dynamic groups: members are the devices the rule selects.
    public var membershipRule: String?
    /// Groups nested in this (static) group: their devices are members too.
    public var nestedGroups: [String]?
    public var memberCount: Int
    public var createdAt: Date
}

public struct PolicyAssignments: Codable, Sendable, Hashable {
    public var include: [String]
    public var exclude: [String]
}

public struct Policy: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public var description: String
    public var platform: PolicyPlatform
    public var template: PolicyTemplate
    public var revision: Int
    public var settings: [String: JSONValue]
    public var assignments: PolicyAssignments
    public var createdAt: Date
    public var updatedAt: Date
}

/// One page of a list, with the cursor for the next page when there is one.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?
}

extension Page {
    /// From up to `limit + 1` items fetched in id order: the extra one only says that another
    /// page follows, which then starts after the last item kept.
    init(fetched: [Item], limit: Int, id: (Item) -> String) {
        items = Array(fetched.prefix(limit))
        nextCursor = fetched.count > limit ? items.last.map(id) : nil
    }
}

public struct ManagementState: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        case managed
        case excluded
    }

    public var state: State
    public var reason: String?
}

/// Tenant-wide device settings.
public struct DeviceSettings: Codable, Sendable, Hashable {
    /// Days without a check-in after which a device is flagged stale (never removed).
    public var staleAfterDays: Int

    public static let defaults = DeviceSettings(staleAfterDays: 30)
}

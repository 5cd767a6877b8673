/// A policy as it stands at one revision: what the merge consumes.
public struct PolicySnapshot: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var revision: Int
    public var platform: PolicyPlatform
    public var settings: [String: JSONValue]

    public init(id: String, name: String, revision: Int, platform: PolicyPlatform, settings: [String: JSONValue]) {
        self.id = id
        self.name = name
        self.revision = revision
        self.platform = platform
        self.settings = settings
    }
}

/// A policy with its assignment: include and exclude groups (exclude wins).
public struct AssignedPolicy: Sendable, Hashable {
    public var policy: PolicySnapshot
    public var includeGroups: Set<String>
    public var excludeGroups: Set<String>

    public init(policy: PolicySnapshot, includeGroups: Set<String>, excludeGroups: Set<String>) {
        self.policy = policy
        self.includeGroups = includeGroups
        self.excludeGroups = excludeGroups
    }
}

/// The facts about one device that targeting needs.
public struct DeviceTargetingFacts: Sendable, Hashable {
    public var deviceId: String
    public var platform: DevicePlatform
    /// Every group the device is a member of.
    public var groupIds: Set<String>

    public init(deviceId: String, platform: DevicePlatform, groupIds: Set<String>) {
        self.deviceId = deviceId
        self.platform = platform
        self.groupIds = groupIds
    }
}

/// Which policy (at which revision) contributed a value, and through which groups.
public struct PolicyReference: Sendable, Hashable, Codable, Comparable {
    public var id: String
    public var name: String
    public var revision: Int
    public var groupIds: [String]

    public init(id: String, name: String, revision: Int, groupIds: [String]) {
        self.id = id
        self.name = name
        self.revision = revision
        self.groupIds = groupIds
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.id < rhs.id }
}

/// One delivered setting with its provenance.
public struct EffectiveSetting: Sendable, Hashable, Codable {
    public var value: JSONValue
    public var policies: [PolicyReference]
}

/// One of the competing values of a conflicting setting.
public struct CompetingValue: Sendable, Hashable, Codable {
    public var value: JSONValue
    public var policies: [PolicyReference]
}

/// The merge of every policy that targets one device: what is delivered, where each value came
/// from, and which settings are withheld because policies disagree.
public struct EffectiveConfiguration: Sendable, Hashable, Codable {
    public var platform: PolicyPlatform
    public var settings: [String: EffectiveSetting]
    public var conflicts: [String: [CompetingValue]]
    /// Every policy that targets the device, whether or not it contributed a delivered value.
    public var policies: [PolicyReference]
    /// Why the device receives nothing (out of scope, retired, managed elsewhere).
    public var exclusion: String?
    /// The device's Defender settings belong to another channel: write and remove nothing.
    public var leaveUntouched: Bool?

    public init(platform: PolicyPlatform, settings: [String: EffectiveSetting] = [:], conflicts: [String: [CompetingValue]] = [:], policies: [PolicyReference] = [],
                exclusion: String? = nil, leaveUntouched: Bool? = nil) {
        self.platform = platform
        self.settings = settings
        self.conflicts = conflicts
        self.policies = policies
        self.exclusion = exclusion
        self.leaveUntouched = leaveUntouched
    }

    /// What the agent receives: setting id -> value, without provenance.
    public var deliveredSettings: [String: JSONValue] {
        settings.mapValues(\.value)
    }

    /// The document delivered to the device, with its content hash.
    public var deviceConfiguration: DeviceConfiguration {
        DeviceConfiguration(platform: platform, settings: deliveredSettings, leaveUntouched: leaveUntouched, reason: exclusion)
    }
}

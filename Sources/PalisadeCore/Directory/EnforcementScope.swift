/// The tenant's enforcement scope: which platforms Palisade manages, all devices or only those
/// tagged for management (pilots), and whether it takes over devices whose Defender settings
/// another channel already manages.
public struct EnforcementScope: Sendable, Hashable, Codable {
    public enum Reach: String, Sendable, Hashable, Codable {
        case all
        case tagged
    }

    public var platforms: [DevicePlatform: Bool]
    public var scope: Reach
    public var tag: String?
    public var takeOver: [DevicePlatform: Bool]

    public init(platforms: [DevicePlatform: Bool] = Dictionary(uniqueKeysWithValues: DevicePlatform.allCases.map { ($0, true) }),
                scope: Reach = .all, tag: String? = nil, takeOver: [DevicePlatform: Bool] = [:]) {
        self.platforms = platforms
        self.scope = scope
        self.tag = tag
        self.takeOver = takeOver
    }

    public static let everything = EnforcementScope()

    /// Whether Palisade manages this device, and if not, why: the reason is shown on the
    /// device record.
    public func decision(platform: DevicePlatform, tags: [String], managedBy: ManagementChannel) -> ScopeDecision {
        guard platforms[platform] ?? false else {
            return .excluded("enforcement is switched off for \(platform.rawValue) devices in this tenant")
        }
        if scope == .tagged, let tag, !tags.contains(where: { $0.lowercased() == tag.lowercased() }) {
            return .excluded("the tenant manages only devices tagged \"\(tag)\"")
        }
        if managedBy != .palisade, !(takeOver[platform] ?? false) {
            return .excluded("another channel (\(managedBy.rawValue)) manages Defender's settings on this device; the tenant has not chosen to take over")
        }
        return .managed
    }
}

public enum ScopeDecision: Sendable, Hashable {
    case managed
    case excluded(String)
}

/// What a person or an API token may do. Every admin route declares the one permission it
/// needs (`docs/PERMISSIONS.md` is the table); a role is a fixed set of permissions.
public enum Permission: String, Sendable, Hashable, CaseIterable, Codable {
    case readDevices
    case readGroups
    case readPolicies
    case readReports
    case readCatalog
    case readEnrollmentTokens
    case readSettings
    case readAudit
    case readUsers
    case readAPITokens

    case manageEnrollmentTokens
    case manageDeviceTags
    case syncDevices
    case retireDevices
    case approveReenrollment
    case manageGroups
    case managePolicies
    case manageSettings
    case manageUsers
    case manageAPITokens

    public var isRead: Bool { rawValue.hasPrefix("read") }
}

/// The built-in roles Intune uses for endpoint security; one per user or API token.
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    /// Everything, including users, API tokens and tenant settings.
    case administrator
    /// Policies, groups, assignments, enrollment tokens, devices and reports.
    case endpointSecurityManager
    /// Every read and report, nothing else.
    case readOnlyOperator
    /// Reads, device tags, sync and retire; no policies, groups or settings.
    case helpDeskOperator

    public var permissions: Set<Permission> {
        switch self {
        case .administrator:
            return Set(Permission.allCases)
        case .endpointSecurityManager:
            return Self.operationalReads.union([
                .manageEnrollmentTokens, .manageDeviceTags, .syncDevices, .retireDevices, .manageGroups, .managePolicies,
            ])
        case .readOnlyOperator:
            return Set(Permission.allCases.filter(\.isRead))
        case .helpDeskOperator:
            return Self.operationalReads.union([.manageDeviceTags, .syncDevices, .retireDevices])
        }
    }

    /// Reads of the fleet and its configuration; not the audit log, people or API tokens.
    static let operationalReads: Set<Permission> = [
        .readDevices, .readGroups, .readPolicies, .readReports, .readCatalog, .readEnrollmentTokens, .readSettings,
    ]

    public func allows(_ permission: Permission) -> Bool { permissions.contains(permission) }

    /// The role a value names, accepting the bootstrap token's historical "owner".
    public init?(stored: String) {
        if stored == "owner" { self = .administrator } else { self.init(rawValue: stored) }
    }
}

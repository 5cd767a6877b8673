/// The endpoint-security templates a policy is authored from, as in Intune's endpoint security.
public enum PolicyTemplate: String, Codable, Sendable, CaseIterable, Hashable {
    case antivirus
    case antivirusExclusions
    case edr
    case securityExperience
    case networkProtection
    case attackSurfaceReduction
    case firewall
    case firewallRules

    public var title: String {
        switch self {
        case .antivirus: "Antivirus"
        case .antivirusExclusions: "Antivirus exclusions"
        case .edr: "Endpoint detection and response"
        case .securityExperience: "Tamper protection and security experience"
        case .networkProtection: "Network protection"
        case .attackSurfaceReduction: "Attack surface reduction rules"
        case .firewall: "Firewall"
        case .firewallRules: "Firewall rules"
        }
    }
}

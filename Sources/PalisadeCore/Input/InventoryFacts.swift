/// What the directory keeps of an agent's inventory: the facts rules can read and the
/// management channel. A check-in whose facts equal the stored ones changes nothing that any
/// rule, scope or configuration depends on, so it does not go through the directory.
public struct InventoryFacts: Sendable, Hashable {
    public var hostname: String
    public var osVersion: String
    public var agentVersion: String
    public var mdmEnrolled: Bool
    public var agentTags: [String]
    public var managedBy: ManagementChannel

    public init(hostname: String, osVersion: String, agentVersion: String, mdmEnrolled: Bool, agentTags: [String], managedBy: ManagementChannel) {
        self.hostname = hostname
        self.osVersion = osVersion
        self.agentVersion = agentVersion
        self.mdmEnrolled = mdmEnrolled
        self.agentTags = agentTags
        self.managedBy = managedBy
    }
}

extension DeviceProtocol.Inventory {
    /// Who manages Defender's settings, from what the agent found: an MDM's profile or policy
    /// on macOS and Windows, a managed file Palisade did not write on Linux.
    public var managementChannel: ManagementChannel {
        guard defenderManagedElsewhere == true else { return .palisade }
        return platform == .linux ? .other : .mdm
    }

    public var facts: InventoryFacts {
        InventoryFacts(hostname: hostname, osVersion: osVersion, agentVersion: agentVersion, mdmEnrolled: mdmEnrolled,
                       agentTags: tags ?? [], managedBy: managementChannel)
    }

    /// Checks the inventory's text fields against their limits and its tags against the tag
    /// rules; `field` names the inventory in the request (e.g. `inventory`).
    public func validated(field: String) throws(InputProblem) {
        let limits: [(String, String, ClosedRange<Int>)] = [
            ("hostname", hostname, 1...255),
            ("hardwareId", hardwareId, 1...256),
            ("osVersion", osVersion, 0...200),
            ("agentVersion", agentVersion, 0...100),
        ]
        for (name, value, range) in limits where !range.contains(value.count) {
            throw InputProblem(field: "\(field).\(name)", message: "\(field).\(name) must be \(range.lowerBound) to \(range.upperBound) characters, got \(value.count)")
        }
        _ = try InputRules.tags(tags ?? [], field: "\(field).tags")
    }
}

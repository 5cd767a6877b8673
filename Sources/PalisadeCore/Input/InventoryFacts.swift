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
    /// What rules read of Defender (`device.defender.installed|healthy|version`); nil: unknown.
    public var defenderInstalled: Bool?
    public var defenderHealthy: Bool?
    public var defenderVersion: String?

    public init(hostname: String, osVersion: String, agentVersion: String, mdmEnrolled: Bool, agentTags: [String], managedBy: ManagementChannel,
                defenderInstalled: Bool? = nil, defenderHealthy: Bool? = nil, defenderVersion: String? = nil) {
        self.hostname = hostname
        self.osVersion = osVersion
        self.agentVersion = agentVersion
        self.mdmEnrolled = mdmEnrolled
        self.agentTags = agentTags
        self.managedBy = managedBy
        self.defenderInstalled = defenderInstalled
        self.defenderHealthy = defenderHealthy
        self.defenderVersion = defenderVersion
    }

    /// The same facts with Defender's taken from `status` (what the device has now).
    public func with(defender status: DefenderStatus?) -> InventoryFacts {
        var facts = self
        facts.defenderInstalled = status?.installed
        facts.defenderHealthy = status?.healthy
        facts.defenderVersion = status?.version
        return facts
    }
}

extension DeviceProtocol.Inventory {
    /// Who manages Defender's settings, from what the agent found: an MDM's profile or policy
    /// on macOS and Windows, a managed file Palisade did not write on Linux.
    public var managementChannel: ManagementChannel {
        guard defenderManagedElsewhere == true else { return .palisade }
        return platform == .linux ? .other : .mdm
    }

    /// The facts this inventory states; Defender's only when it carries `defender` (otherwise
    /// the caller keeps what it knew: no news is not a change).
    public var facts: InventoryFacts {
        InventoryFacts(hostname: hostname, osVersion: osVersion, agentVersion: agentVersion, mdmEnrolled: mdmEnrolled,
                       agentTags: tags ?? [], managedBy: managementChannel,
                       defenderInstalled: defender?.installed, defenderHealthy: defender?.healthy, defenderVersion: defender?.version)
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
        if let defender {
            let texts: [(String, String?)] = [
                ("version", defender.version), ("definitionsVersion", defender.definitionsVersion), ("definitionsStatus", defender.definitionsStatus),
                ("organizationId", defender.organizationId), ("tamperProtection", defender.tamperProtection), ("detail", defender.detail),
                ("definitionsUpdatedAt", defender.definitionsUpdatedAt),
            ]
            for (name, value) in texts where (value?.count ?? 0) > 500 {
                throw InputProblem(field: "\(field).defender.\(name)", message: "\(field).defender.\(name) must be at most 500 characters, got \(value!.count)")
            }
            if let text = defender.definitionsUpdatedAt, DefenderStatus.date(text) == nil {
                throw InputProblem(field: "\(field).defender.definitionsUpdatedAt", message: "\(field).defender.definitionsUpdatedAt must be an ISO 8601 time such as 2026-11-27T02:18:00Z, got \"\(text.prefix(50))\"")
            }
            let issues = defender.healthIssues ?? []
            if issues.count > 50 || issues.contains(where: { $0.count > 500 }) {
                throw InputProblem(field: "\(field).defender.healthIssues", message: "\(field).defender.healthIssues holds at most 50 issues of at most 500 characters each")
            }
        }
    }
}

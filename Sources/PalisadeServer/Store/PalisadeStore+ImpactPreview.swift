import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    /// Previews new settings and/or assignments of a policy against the current directory:
    /// the proposal is validated as a save would be, then `DirectoryIndex.impactPreview`
    /// compares it with what devices receive now. Nothing is stored.
    public func previewPolicyChange(tenant: String, policy id: String, settings: [String: JSONValue]?, include: [String]?, exclude: [String]?) async throws -> ImpactPreview {
        try await readDirectory(tenant: tenant) { index in
            let current = try await read { sql in try await Self.policy(tenant: tenant, id: id, on: sql) }
            let newSettings = settings ?? current.settings
            let problems = PolicyValidator(catalog: catalog).problems(platform: current.platform, template: current.template, settings: newSettings)
            guard problems.isEmpty else { throw DomainError.invalidSettings(problems) }
            let newInclude = include.map { Set($0) } ?? Set(current.assignments.include)
            let newExclude = exclude.map { Set($0) } ?? Set(current.assignments.exclude)
            let missing = newInclude.union(newExclude).filter { index.groups[$0] == nil }.sorted()
            guard missing.isEmpty else { throw DomainError.unknownGroups(missing, field: "assignments") }
            let proposed = AssignedPolicy(
                policy: PolicySnapshot(id: id, name: current.name, revision: current.revision + 1, platform: current.platform, settings: newSettings),
                includeGroups: newInclude, excludeGroups: newExclude)
            return index.impactPreview(of: proposed)
        }
    }
}

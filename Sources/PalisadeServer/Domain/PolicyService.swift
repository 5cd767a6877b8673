import Foundation
import PalisadeCore
import SQLKit

/// What an admin gives for a policy: the same for the API, a page and (next) apply.
public struct PolicyDraft: Sendable {
    public var name: String
    public var description: String
    public var platform: PolicyPlatform
    public var template: PolicyTemplate
    public var settings: [String: JSONValue]

    public init(name: String, description: String, platform: PolicyPlatform, template: PolicyTemplate, settings: [String: JSONValue]) {
        self.name = name
        self.description = description
        self.platform = platform
        self.template = template
        self.settings = settings
    }
}

/// Policies: the one place their rules live. The REST controller, the admin pages and the
/// coming apply endpoint call these methods and only decode, encode or render around them.
/// Each change is validated here, written through the tenant's directory (so affected devices
/// are recomputed and woken) and audited in the same transaction.
public struct PolicyService: Sendable {
    let store: PalisadeStore

    public init(store: PalisadeStore) {
        self.store = store
    }

    // MARK: Rules

    /// A draft as it will be stored: a valid name, and settings the catalog accepts for the
    /// platform and template. `unreadable` are values a form could not even read (a page's own
    /// decoding); they are refused together with the catalog's problems, so every problem is
    /// named at once.
    public func validated(_ draft: PolicyDraft, unreadable: [SettingProblem] = []) throws -> PolicyDraft {
        var draft = draft
        draft.name = try InputRules.name(draft.name)
        let problems = unreadable + PolicyValidator(catalog: store.catalog).problems(platform: draft.platform, template: draft.template, settings: draft.settings)
        guard problems.isEmpty else { throw DomainError.invalidSettings(problems) }
        return draft
    }

    /// Platform and template are fixed at creation: another platform's settings land in other
    /// places, so a change is a new policy.
    static func checkReplaceable(_ current: Policy, by draft: PolicyDraft) throws {
        guard current.platform == draft.platform else {
            throw DomainError.invalid("platform cannot change (policy is \(current.platform.rawValue), got \(draft.platform.rawValue)); create a new policy", field: "platform")
        }
        guard current.template == draft.template else {
            throw DomainError.invalid("template cannot change (policy is \(current.template.rawValue), got \(draft.template.rawValue)); create a new policy", field: "template")
        }
    }

    /// Assignments as stored: each group once, sorted, and never both included and excluded.
    static func normalizedAssignments(include: [String], exclude: [String]) throws -> (include: [String], exclude: [String]) {
        let include = Array(Set(include)).sorted()
        let exclude = Array(Set(exclude)).sorted()
        let both = Set(include).intersection(exclude)
        guard both.isEmpty else {
            throw DomainError.invalid("groups cannot be both included and excluded: \(both.sorted().joined(separator: ", "))", field: "exclude")
        }
        return (include, exclude)
    }

    // MARK: Reads

    public func policy(tenant: String, id: String) async throws -> Policy {
        try await store.readSnapshot { sql in try await PolicyRepository.policy(tenant: tenant, id: id, on: sql) }
    }

    public func policies(tenant: String, limit: Int, after cursor: String?) async throws -> Page<Policy> {
        try await store.readSnapshot { sql in try await PolicyRepository.page(tenant: tenant, limit: limit, after: cursor, on: sql) }
    }

    // MARK: Changes

    public func create(tenant: String, by actor: AuditActor, _ draft: PolicyDraft) async throws -> Policy {
        let draft = try validated(draft)
        let id = Identifier.make()
        let now = store.clock.nowMillis
        return try await store.directory.write(tenant: tenant) { sql, directory in
            try await PolicyRepository.insert(id: id, tenant: tenant, draft, at: now, on: sql)
            directory.policyChanged(id)
            let created = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            try await PalisadeStore.audit(.policyCreate, by: actor, tenant: tenant, target: ("policy", id, created.name), new: created, at: now, on: sql)
            return created
        }
    }

    /// Replaces a policy's name, description and settings as a new revision.
    public func update(tenant: String, by actor: AuditActor, id: String, _ draft: PolicyDraft) async throws -> Policy {
        try await replace(tenant: tenant, by: actor, id: id, try validated(draft), action: .policyUpdate)
    }

    /// Deletes a policy; the devices it reached lose its settings. Its revisions stay as history.
    public func delete(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = store.clock.nowMillis
        try await store.directory.write(tenant: tenant) { sql, directory in
            let old = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            try await PalisadeStore.audit(.policyDelete, by: actor, tenant: tenant, target: ("policy", id, old.name), old: old, at: now, on: sql)
            try await PolicyRepository.delete(id: id, tenant: tenant, on: sql)
            directory.policyChanged(id)
        }
    }

    public func setAssignments(tenant: String, by actor: AuditActor, policy id: String, include: [String], exclude: [String]) async throws -> Policy {
        let (include, exclude) = try Self.normalizedAssignments(include: include, exclude: exclude)
        let now = store.clock.nowMillis
        return try await store.directory.write(tenant: tenant) { sql, directory in
            let old = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            let all = include + exclude
            let found = try await PolicyRepository.existingGroups(all, tenant: tenant, on: sql)
            let missing = all.filter { !found.contains($0) }
            guard missing.isEmpty else { throw DomainError.unknownGroups(missing, field: "assignments") }
            try await PolicyRepository.replaceAssignments(policy: id, tenant: tenant, include: include, exclude: exclude, on: sql)
            directory.policyChanged(id)
            let updated = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            try await PalisadeStore.audit(.policyAssign, by: actor, tenant: tenant, target: ("policy", id, old.name),
                                          old: old.assignments, new: updated.assignments, at: now, on: sql)
            return updated
        }
    }

    /// Previews new settings and/or assignments against the current directory: the proposal is
    /// judged by the same rules as a save, then `DirectoryIndex.impactPreview` compares it with
    /// what devices receive now. Nothing is stored.
    public func preview(tenant: String, policy id: String, settings: [String: JSONValue]?, include: [String]?, exclude: [String]?) async throws -> ImpactPreview {
        try await store.directory.read(tenant: tenant) { index in
            let current = try await policy(tenant: tenant, id: id)
            let newSettings = settings ?? current.settings
            let problems = PolicyValidator(catalog: store.catalog).problems(platform: current.platform, template: current.template, settings: newSettings)
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

    // MARK: Revisions

    public func revisions(tenant: String, policy id: String, limit: Int = 100, after cursor: String? = nil) async throws -> Page<PolicyRevisionSummary> {
        try await store.policyRevisions(tenant: tenant, policy: id, limit: limit, after: cursor)
    }

    public func revision(tenant: String, policy id: String, revision: Int) async throws -> PolicyRevision {
        try await store.policyRevision(tenant: tenant, policy: id, revision: revision)
    }

    public func diff(tenant: String, policy id: String, revision: Int, against: Int?) async throws -> PolicyRevisionDiff {
        try await store.policyRevisionDiff(tenant: tenant, policy: id, revision: revision, against: against)
    }

    /// Restores an earlier revision's name, description and settings as a new revision. 404
    /// when the revision does not exist; 400 names the settings of that revision that today's
    /// catalog refuses.
    public func rollback(tenant: String, by actor: AuditActor, policy id: String, to revision: Int) async throws -> Policy {
        let restored = try await revisionToRestore(tenant: tenant, policy: id, revision: revision)
        return try await replace(tenant: tenant, by: actor, id: id, restored, action: .policyRollback, restoredRevision: revision)
    }

    /// What rolling back to `revision` would do to devices, without saving anything.
    public func previewRollback(tenant: String, policy id: String, to revision: Int) async throws -> ImpactPreview {
        let restored = try await revisionToRestore(tenant: tenant, policy: id, revision: revision)
        return try await preview(tenant: tenant, policy: id, settings: restored.settings, include: nil, exclude: nil)
    }

    /// The update path, shared by updates and rollbacks: a new revision, the devices
    /// recomputed and their long-polls woken, one audit event (`action`; a rollback's names
    /// the revision it restored).
    private func replace(tenant: String, by actor: AuditActor, id: String, _ draft: PolicyDraft, action: AuditAction, restoredRevision: Int? = nil) async throws -> Policy {
        let now = store.clock.nowMillis
        return try await store.directory.write(tenant: tenant) { sql, directory in
            let current = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            try Self.checkReplaceable(current, by: draft)
            try await PolicyRepository.update(id: id, tenant: tenant, draft, revision: current.revision + 1, at: now, on: sql)
            directory.policyChanged(id)
            let updated = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            let new: any Encodable & Sendable = restoredRevision.map { RolledBackPolicy(restoredRevision: $0, policy: updated) } ?? updated
            try await PalisadeStore.audit(action, by: actor, tenant: tenant, target: ("policy", id, updated.name), old: current, new: new, at: now, on: sql)
            return updated
        }
    }

    private func revisionToRestore(tenant: String, policy id: String, revision: Int) async throws -> PolicyDraft {
        let (policy, stored) = try await store.readSnapshot { sql in
            let policy = try await PolicyRepository.policy(tenant: tenant, id: id, on: sql)
            return (policy, try await PalisadeStore.policyRevision(tenant: tenant, policy: id, revision: revision, on: sql, field: "revision"))
        }
        let problems = PolicyValidator(catalog: store.catalog).problems(platform: policy.platform, template: policy.template, settings: stored.settings)
        guard problems.isEmpty else {
            var error = DomainError.invalidSettings(problems)
            let ids = Array(Set(problems.map(\.settingId))).sorted()
            error.message = "revision \(revision) cannot be restored: today's catalog refuses its settings \(ids.joined(separator: ", ")): " + error.message
            if case .object(var details) = error.details {
                details["field"] = "revision"
                details["revision"] = .integer(Int64(revision))
                error.details = .object(details)
            }
            throw error
        }
        return PolicyDraft(name: stored.name, description: stored.description, platform: policy.platform, template: policy.template, settings: stored.settings)
    }
}

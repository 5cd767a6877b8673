import Foundation
import Logging
import PalisadeCore
import SQLKit

/// Loading a tenant's whole directory from the database: at start, on first use, when a
/// replica cannot catch up from the log, for a rebuild, and for the drift check.
extension DirectoryWriter {
    /// Builds the engine for a whole tenant from the database. Dynamic groups are evaluated
    /// from their rules; static groups' members and nesting are read.
    func loadDirectory(tenant: String, on sql: any SQLDatabase) async throws -> DirectoryIndex {
        var index = DirectoryIndex(catalog: catalog, scope: try await TenantSettingsRepository.settings(tenant: tenant, on: sql).0)
        let devices = try await sql.raw("SELECT \(unsafeRaw: PalisadeStore.deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant)").all()
            .map { try PalisadeStore.device($0).directoryDevice }
        let groups = try await Self.groupDefinitions(tenant: tenant, ids: nil, on: sql)
        let policies = try await Self.assignedPolicies(tenant: tenant, ids: nil, on: sql)
        do {
            try index.load(devices: devices, groups: groups.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }, policies: policies.values.sorted { $0.policy.id < $1.policy.id })
        } catch {
            throw StoreError.corrupt("the directory of tenant \(tenant) is inconsistent: \(error)")
        }
        return index
    }

    /// Loads the tenant's directory afresh from the database, stores every configuration that
    /// differs from what it computes, and makes other replicas reload too. For a first start
    /// on imported data, after a restore, or after an upgrade that changes rule or merge
    /// semantics; routine changes never need it.
    public func rebuild(tenant: String) async throws -> DirectoryRebuild {
        let started = ContinuousClock.now
        var summary = try await write(tenant: tenant, reload: true) { _, directory in
            directory.rebuildEverything()
            return DirectoryRebuild(devices: directory.index.devices.count, groups: directory.index.groups.count, duration: .zero)
        }
        summary.duration = ContinuousClock.now - started
        return summary
    }

    /// Devices whose stored configuration differs from what a fresh load of the whole tenant
    /// computes: empty unless incremental maintenance went wrong. For tests and operators.
    public func drift(tenant: String) async throws -> [String] {
        // One snapshot: the documents compared are those of the state that was loaded.
        try await readSnapshot { sql in
            let index = try await loadDirectory(tenant: tenant, on: sql)
            var stored: [String: String] = [:]
            for row in try await sql.raw("SELECT device_id, effective FROM device_configurations WHERE tenant_id = \(bind: tenant)").all() {
                stored[try row.string("device_id")] = try row.string("effective")
            }
            var drifted: [String] = []
            for configuration in await index.computedConfigurations(of: index.devices.keys.sorted(), workers: Self.computeWorkers)
            where stored[configuration.deviceId] != configuration.effectiveJSON {
                drifted.append(configuration.deviceId)
            }
            return drifted
        }
    }

    /// Group definitions as the engine takes them: a rule, or members and nested groups.
    /// `ids` nil reads every group of the tenant.
    static func groupDefinitions(tenant: String, ids: Set<String>?, on sql: any SQLDatabase) async throws -> [String: DirectoryIndex.Group] {
        var rows: [any SQLRow] = []
        if let ids {
            for chunk in ids.sorted().chunked() {
                rows += try await sql.raw("SELECT id, membership_rule FROM device_groups WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all()
            }
        } else {
            rows = try await sql.raw("SELECT id, membership_rule FROM device_groups WHERE tenant_id = \(bind: tenant)").all()
        }
        var result: [String: DirectoryIndex.Group] = [:]
        var staticIds: [String] = []
        for row in rows {
            let id = try row.string("id")
            if let text = try row.optionalString("membership_rule") {
                do {
                    result[id] = .dynamic(try MembershipRuleParser.parse(text))
                } catch {
                    throw StoreError.corrupt("group \(id) has a rule that no longer parses: \(error.description)")
                }
            } else {
                staticIds.append(id)
            }
        }
        var members: [String: Set<String>] = [:]
        var nested: [String: Set<String>] = [:]
        func collect(_ membersQuery: SQLQueryString, _ nestingQuery: SQLQueryString) async throws {
            for row in try await sql.raw(membersQuery).all() { members[try row.string("group_id"), default: []].insert(try row.string("device_id")) }
            for row in try await sql.raw(nestingQuery).all() { nested[try row.string("parent_id"), default: []].insert(try row.string("child_id")) }
        }
        if ids == nil {
            try await collect("""
                SELECT m.group_id, m.device_id FROM group_members m JOIN device_groups g ON g.id = m.group_id
                WHERE g.tenant_id = \(bind: tenant) AND g.membership_rule IS NULL
                """, "SELECT parent_id, child_id FROM group_nesting WHERE tenant_id = \(bind: tenant)")
        } else {
            for chunk in staticIds.chunked() {
                try await collect("SELECT group_id, device_id FROM group_members WHERE tenant_id = \(bind: tenant) AND group_id IN (\(binds: chunk))",
                                  "SELECT parent_id, child_id FROM group_nesting WHERE tenant_id = \(bind: tenant) AND parent_id IN (\(binds: chunk))")
            }
        }
        for id in staticIds { result[id] = .members(devices: members[id] ?? [], groups: nested[id] ?? []) }
        return result
    }

    /// Policies with their assignments, as the engine takes them. `ids` nil reads them all.
    static func assignedPolicies(tenant: String, ids: Set<String>?, on sql: any SQLDatabase) async throws -> [String: AssignedPolicy] {
        var policyRows: [any SQLRow] = []
        var assignmentRows: [any SQLRow] = []
        if let ids {
            for chunk in ids.sorted().chunked() {
                policyRows += try await sql.raw("SELECT id, name, revision, platform, settings FROM policies WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all()
                assignmentRows += try await sql.raw("SELECT policy_id, group_id, mode FROM policy_assignments WHERE tenant_id = \(bind: tenant) AND policy_id IN (\(binds: chunk))").all()
            }
        } else {
            policyRows = try await sql.raw("SELECT id, name, revision, platform, settings FROM policies WHERE tenant_id = \(bind: tenant)").all()
            assignmentRows = try await sql.raw("SELECT policy_id, group_id, mode FROM policy_assignments WHERE tenant_id = \(bind: tenant)").all()
        }
        var include: [String: Set<String>] = [:]
        var exclude: [String: Set<String>] = [:]
        for row in assignmentRows {
            let policy = try row.string("policy_id")
            if try row.string("mode") == "exclude" {
                exclude[policy, default: []].insert(try row.string("group_id"))
            } else {
                include[policy, default: []].insert(try row.string("group_id"))
            }
        }
        var result: [String: AssignedPolicy] = [:]
        for row in policyRows {
            let id = try row.string("id")
            guard let platform = PolicyPlatform(rawValue: try row.string("platform")) else { throw StoreError.corrupt("policy \(id) platform") }
            let snapshot = PolicySnapshot(id: id, name: try row.string("name"), revision: try row.int("revision"), platform: platform,
                                          settings: try row.json("settings", as: [String: JSONValue].self))
            result[id] = AssignedPolicy(policy: snapshot, includeGroups: include[id] ?? [], excludeGroups: exclude[id] ?? [])
        }
        return result
    }

    /// Loads every tenant's directory engine; a failure is logged and left to the first request.
    public func warmUp() async {
        let tenants: [Tenant]
        do {
            tenants = try await read { sql in
                try await sql.raw("SELECT id, name, created_at FROM tenants ORDER BY name").all().map {
                    Tenant(id: try $0.string("id"), name: try $0.string("name"), createdAt: Timestamp.date(try $0.millis("created_at")))
                }
            }
        } catch {
            logger.warning("could not list tenants at start; directories load on first use", metadata: ["error": "\(error)"])
            return
        }
        for tenant in tenants {
            guard !Task.isCancelled else { return }
            do {
                try await read(tenant: tenant.id) { _ in }
            } catch {
                logger.warning("could not load a tenant's directory at start; it loads on first use", metadata: ["tenant": "\(tenant.id)", "error": "\(error)"])
            }
        }
    }
}

/// What `rebuild` did.
public struct DirectoryRebuild: Sendable {
    public var devices: Int
    public var groups: Int
    public var duration: Duration
}


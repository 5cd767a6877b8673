import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    /// Recomputes the effective configuration of the given devices from their memberships and
    /// the policies assigned to their groups, stores it with its hash and provenance, and
    /// returns the devices whose delivered configuration changed. Runs inside the caller's
    /// write transaction; never on the check-in path.
    func recompute(tenant: String, devices: Set<String>, on sql: any SQLDatabase) async throws -> Set<String> {
        var changed: Set<String> = []
        for chunk in devices.sorted().chunked() {
            changed.formUnion(try await recomputeChunk(tenant: tenant, devices: chunk, on: sql))
        }
        return changed
    }

    private func recomputeChunk(tenant: String, devices ids: [String], on sql: any SQLDatabase) async throws -> Set<String> {
        let computed = try await effectiveConfigurations(tenant: tenant, devices: ids, on: sql)
        guard !computed.isEmpty else { return [] }
        var existing: [String: (hash: String, effective: String)] = [:]
        for row in try await sql.raw("SELECT device_id, configuration_hash, effective FROM device_configurations WHERE device_id IN (\(binds: Array(computed.keys)))").all() {
            existing[try row.string("device_id")] = (try row.string("configuration_hash"), try row.string("effective"))
        }

        let now = Timestamp.nowMillis()
        var changed: Set<String> = []
        for (id, configuration) in computed.sorted(by: { $0.key < $1.key }) {
            let hash = configuration.deviceConfiguration.hash
            let effectiveJSON = try encodeJSON(configuration)
            if let previous = existing[id], previous.effective == effectiveJSON { continue }
            if existing[id]?.hash != hash { changed.insert(id) }
            try await sql.raw("""
                INSERT INTO device_configurations (device_id, tenant_id, configuration_hash, effective, computed_at, delivered_hash, delivered_at)
                VALUES (\(bind: id), \(bind: tenant), \(bind: hash), \(bind: effectiveJSON), \(bind: now), NULL, NULL)
                ON CONFLICT (device_id) DO UPDATE SET configuration_hash = excluded.configuration_hash,
                    effective = excluded.effective, computed_at = excluded.computed_at
                """).run()
            try await sql.raw("DELETE FROM device_policy_targets WHERE device_id = \(bind: id)").run()
            for policy in configuration.policies {
                try await sql.raw("""
                    INSERT INTO device_policy_targets (tenant_id, policy_id, device_id, revision)
                    VALUES (\(bind: tenant), \(bind: policy.id), \(bind: id), \(bind: policy.revision))
                    """).run()
            }
        }
        return changed
    }

    /// The effective configurations of the devices as the store stands, or with one policy
    /// replaced by `override` (the impact preview). Reads only.
    func effectiveConfigurations(tenant: String, devices ids: [String], override: AssignedPolicy? = nil, on sql: any SQLDatabase) async throws -> [String: EffectiveConfiguration] {
        guard !ids.isEmpty else { return [:] }
        var facts: [String: DeviceTargetingFacts] = [:]
        // Retired devices and devices outside the enforcement scope receive nothing; devices
        // whose Defender settings another channel manages are, moreover, left untouched.
        var excluded: [String: EffectiveConfiguration] = [:]
        let scope = try await Self.tenantSettings(tenant: tenant, on: sql).0
        for row in try await sql.raw("SELECT \(unsafeRaw: Self.deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: ids))").all() {
            let device = try Self.device(row)
            let platform = device.platform.policyPlatform
            facts[device.id] = DeviceTargetingFacts(deviceId: device.id, platform: device.platform, groupIds: [])
            if device.enrollmentStatus == .retired {
                excluded[device.id] = EffectiveConfiguration(platform: platform, exclusion: "retired by an administrator")
            } else if case .excluded(let reason) = scope.decision(platform: device.platform, tags: device.tags + device.agentTags, managedBy: device.managedBy) {
                // Palisade never wrote on such a device: removing "its" files would remove the other channel's.
                let otherChannel = device.managedBy != .palisade && scope.takeOver[device.platform] != true
                excluded[device.id] = EffectiveConfiguration(platform: platform, exclusion: reason, leaveUntouched: otherChannel ? true : nil)
            }
        }
        guard !facts.isEmpty else { return [:] }

        var allGroups: Set<String> = []
        for row in try await sql.raw("SELECT device_id, group_id FROM group_members WHERE tenant_id = \(bind: tenant) AND device_id IN (\(binds: Array(facts.keys)))").all() {
            facts[try row.string("device_id")]?.groupIds.insert(try row.string("group_id"))
        }
        // A device in a group nested in another is in that one too.
        let parents = try await Self.parentsByChild(tenant: tenant, on: sql)
        for id in facts.keys {
            facts[id]!.groupIds = Self.withAncestors(facts[id]!.groupIds, parents: parents)
            allGroups.formUnion(facts[id]!.groupIds)
        }

        var assigned = try await assignedPolicies(tenant: tenant, reachingGroups: allGroups, on: sql)
        if let override {
            assigned.removeAll { $0.policy.id == override.policy.id }
            assigned.append(override)
        }
        var result: [String: EffectiveConfiguration] = [:]
        for (id, device) in facts {
            result[id] = excluded[id] ?? resolver.resolve(for: device, among: assigned)
        }
        return result
    }

    /// Every policy included through one of `groups`, with its whole assignment.
    private func assignedPolicies(tenant: String, reachingGroups groups: Set<String>, on sql: any SQLDatabase) async throws -> [AssignedPolicy] {
        guard !groups.isEmpty else { return [] }
        var policyIds: Set<String> = []
        for chunk in groups.sorted().chunked() {
            for row in try await sql.raw("SELECT DISTINCT policy_id FROM policy_assignments WHERE mode = 'include' AND group_id IN (\(binds: chunk))").all() {
                policyIds.insert(try row.string("policy_id"))
            }
        }
        var assigned: [AssignedPolicy] = []
        for chunk in policyIds.sorted().chunked() {
            var include: [String: Set<String>] = [:]
            var exclude: [String: Set<String>] = [:]
            for row in try await sql.raw("SELECT policy_id, group_id, mode FROM policy_assignments WHERE policy_id IN (\(binds: chunk))").all() {
                let policy = try row.string("policy_id")
                if try row.string("mode") == "exclude" {
                    exclude[policy, default: []].insert(try row.string("group_id"))
                } else {
                    include[policy, default: []].insert(try row.string("group_id"))
                }
            }
            for row in try await sql.raw("SELECT id, name, revision, platform, settings FROM policies WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: chunk))").all() {
                let id = try row.string("id")
                guard let platform = PolicyPlatform(rawValue: try row.string("platform")) else { throw StoreError.corrupt("policy \(id) platform") }
                let snapshot = PolicySnapshot(id: id, name: try row.string("name"), revision: try row.int("revision"), platform: platform,
                                              settings: try row.json("settings", as: [String: JSONValue].self))
                assigned.append(AssignedPolicy(policy: snapshot, includeGroups: include[id] ?? [], excludeGroups: exclude[id] ?? []))
            }
        }
        return assigned
    }
}

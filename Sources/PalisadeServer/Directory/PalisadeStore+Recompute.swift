import Foundation
import Logging
import PalisadeCore
import SQLKit

extension PalisadeStore {
    /// Recomputes the effective configuration of the given devices from the directory engine,
    /// stores those whose configuration or provenance changed (in batches), and returns the
    /// devices whose delivered configuration changed. Runs inside the caller's write
    /// transaction; never on the check-in path. Stored documents are compared by digest;
    /// `verifyingDocuments` compares the documents themselves (a rebuild trusts nothing).
    func recompute(tenant: String, devices: Set<String>, index: DirectoryIndex, verifyingDocuments: Bool = false, on sql: any SQLDatabase) async throws -> Set<String> {
        guard !devices.isEmpty else { return [] }
        let started = ContinuousClock.now
        let computed = await index.computedConfigurations(of: devices.sorted(), workers: Self.computeWorkers)
        logger.debug("configurations computed", metadata: ["devices": "\(computed.count)", "duration": "\(ContinuousClock.now - started)"])
        var changed: Set<String> = []
        let now = clock.nowMillis
        var comparing = Duration.zero
        var written = 0
        let storing = ContinuousClock.now
        for chunk in computed.chunked() {
            let comparingChunk = ContinuousClock.now
            var existing: [String: (hash: String, digest: String?)] = [:]
            let stored: SQLQueryString = verifyingDocuments ? "effective" : "effective_digest"
            for row in try await sql.raw("SELECT device_id, configuration_hash, \(stored) AS stored FROM device_configurations WHERE device_id IN (\(binds: chunk.map(\.deviceId)))").all() {
                let value = try row.optionalString("stored")
                existing[try row.string("device_id")] = (try row.string("configuration_hash"), verifyingDocuments ? value.map { Digest.sha256Hex(Data($0.utf8)) } : value)
            }
            let writes = chunk.filter { existing[$0.deviceId]?.digest != $0.effectiveDigest }
            comparing += ContinuousClock.now - comparingChunk
            guard !writes.isEmpty else { continue }
            written += writes.count
            for configuration in writes where existing[configuration.deviceId]?.hash != configuration.hash {
                changed.insert(configuration.deviceId)
            }
            try await sql.raw(SQLQueryString.insert(
                "INSERT INTO device_configurations (device_id, tenant_id, configuration_hash, effective, effective_digest, computed_at, delivered_hash, delivered_at) VALUES ",
                rows: writes.map { "(\(bind: $0.deviceId), \(bind: tenant), \(bind: $0.hash), \(bind: $0.effectiveJSON), \(bind: $0.effectiveDigest), \(bind: now), NULL, NULL)" },
                suffix: """
                     ON CONFLICT (device_id) DO UPDATE SET configuration_hash = excluded.configuration_hash,
                        effective = excluded.effective, effective_digest = excluded.effective_digest, computed_at = excluded.computed_at
                    """)).run()
            try await Self.storeTargets(of: writes, tenant: tenant, on: sql)
        }
        logger.debug("configurations stored", metadata: [
            "compared": "\(computed.count)", "written": "\(written)", "comparing": "\(comparing)", "writing": "\(ContinuousClock.now - storing - comparing)",
        ])
        metrics.recomputed(devices: computed.count, duration: ContinuousClock.now - started)
        return changed
    }

    private struct PolicyTarget: Sendable, Hashable {
        var deviceId: String
        var policyId: String
        var revision: Int
    }

    /// Brings `device_policy_targets` (which policies, at which revision, reach each device:
    /// policy reports read it) in line with the configurations, touching only rows that differ:
    /// a device that joins one group usually gains one policy, not ten.
    private static func storeTargets(of configurations: [ComputedConfiguration], tenant: String, on sql: any SQLDatabase) async throws {
        var wanted: Set<PolicyTarget> = []
        for configuration in configurations {
            for policy in configuration.policies { wanted.insert(PolicyTarget(deviceId: configuration.deviceId, policyId: policy.id, revision: policy.revision)) }
        }
        var stored: Set<PolicyTarget> = []
        for row in try await sql.raw("SELECT device_id, policy_id, revision FROM device_policy_targets WHERE device_id IN (\(binds: configurations.map(\.deviceId)))").all() {
            stored.insert(PolicyTarget(deviceId: try row.string("device_id"), policyId: try row.string("policy_id"), revision: try row.int("revision")))
        }
        for batch in stored.subtracting(wanted).sorted(by: { ($0.deviceId, $0.policyId) < ($1.deviceId, $1.policyId) }).chunked() {
            let query = SQLQueryString.insert("DELETE FROM device_policy_targets WHERE (policy_id, device_id) IN (VALUES ",
                                              rows: batch.map { "(\(bind: $0.policyId), \(bind: $0.deviceId))" }, suffix: ")")
            try await sql.raw(query).run()
        }
        for batch in wanted.subtracting(stored).sorted(by: { ($0.deviceId, $0.policyId) < ($1.deviceId, $1.policyId) }).chunked() {
            try await sql.raw(SQLQueryString.insert(
                "INSERT INTO device_policy_targets (tenant_id, policy_id, device_id, revision) VALUES ",
                rows: batch.map { "(\(bind: tenant), \(bind: $0.policyId), \(bind: $0.deviceId), \(bind: $0.revision))" },
                suffix: " ON CONFLICT (policy_id, device_id) DO UPDATE SET revision = excluded.revision")).run()
        }
    }

    /// Configurations are computed on every core when many devices change at once.
    static var computeWorkers: Int { ProcessInfo.processInfo.activeProcessorCount }
}

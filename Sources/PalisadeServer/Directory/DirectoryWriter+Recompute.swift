import Foundation
import Logging
import PalisadeCore
import SQLKit

extension DirectoryWriter {
    /// Recomputes the effective configuration of the given devices from the directory engine,
    /// stores those whose configuration or provenance changed (in batches), and returns the
    /// devices whose delivered configuration changed, with their stored report states
    /// (`storeStates`). Runs inside the caller's write
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
            for row in try await sql.raw("SELECT device_id, configuration_hash, \(stored) AS stored FROM device_configurations WHERE tenant_id = \(bind: tenant) AND device_id IN (\(binds: chunk.map(\.deviceId)))").all() {
                let value = try row.optionalString("stored")
                existing[try row.string("device_id")] = (try row.string("configuration_hash"), verifyingDocuments ? value.map { Digest.sha256Hex(Data($0.utf8)) } : value)
            }
            let writes = chunk.filter { existing[$0.deviceId]?.digest != $0.effectiveDigest }
            comparing += ContinuousClock.now - comparingChunk
            guard !writes.isEmpty else { continue }
            written += writes.count
            if backend.kind == .postgres {
                // Devices before configurations, as the report ingest locks them (no deadlock).
                try await sql.raw("SELECT id FROM devices WHERE id IN (\(binds: writes.map(\.deviceId))) ORDER BY id FOR UPDATE").run()
            }
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
            // A rebuild re-derives data changed behind the server's back: its states are stored,
            // but nothing happened on the devices, so it writes no history.
            try await DirectoryWriter.storeStates(of: try await Self.stateInputs(of: writes, tenant: tenant, on: sql), tenant: tenant, at: now, history: !verifyingDocuments, on: sql)
        }
        logger.debug("configurations stored", metadata: [
            "compared": "\(computed.count)", "written": "\(written)", "comparing": "\(comparing)", "writing": "\(ContinuousClock.now - storing - comparing)",
        ])
        metrics.recomputed(devices: computed.count, duration: ContinuousClock.now - started)
        return changed
    }

    /// The new configurations with each device's last report: a report is decoded only when it
    /// is about the new configuration (otherwise every setting is pending whatever it says).
    private static func stateInputs(of configurations: [ComputedConfiguration], tenant: String, on sql: any SQLDatabase) async throws -> [DeviceStateInput] {
        let hashes = Dictionary(configurations.map { ($0.deviceId, $0.hash) }, uniquingKeysWith: { first, _ in first })
        var reports: [String: DeviceReport] = [:]
        for row in try await sql.raw("SELECT device_id, configuration_hash FROM device_reports WHERE tenant_id = \(bind: tenant) AND device_id IN (\(binds: configurations.map(\.deviceId)))").all() {
            let deviceId = try row.string("device_id")
            let hash = try row.string("configuration_hash")
            reports[deviceId] = DeviceReport(configurationHash: hash, results: [:])
        }
        let current = reports.filter { hashes[$0.key] == $0.value.configurationHash }.map(\.key)
        if !current.isEmpty {
            for row in try await sql.raw("SELECT device_id, configuration_hash, results FROM device_reports WHERE tenant_id = \(bind: tenant) AND device_id IN (\(binds: current))").all() {
                reports[try row.string("device_id")] = DeviceReport(
                    configurationHash: try row.string("configuration_hash"), results: try row.json("results", as: [String: DeviceProtocol.SettingResult].self))
            }
        }
        return configurations.map { configuration in
            let report = reports[configuration.deviceId] ?? .none
            return DeviceStateInput(deviceId: configuration.deviceId, configuration: configuration.effective, report: report,
                                    shareKey: report.configurationHash == configuration.hash ? nil : configuration.effectiveDigest)
        }
    }

    /// Configurations are computed on every core when many devices change at once.
    static var computeWorkers: Int { ProcessInfo.processInfo.activeProcessorCount }
}

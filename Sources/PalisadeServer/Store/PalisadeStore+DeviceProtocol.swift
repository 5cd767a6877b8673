import Foundation
import PalisadeCore
import PalisadeIdentity
import SQLKit

/// What the server needs to verify a device's assertion.
public struct DeviceCredentials: Sendable {
    public var deviceId: String
    public var tenantId: String
    public var publicKeyPEM: String
    /// A key waiting for an administrator's approval (a re-enrollment).
    public var pendingPublicKeyPEM: String?
    public var status: EnrollmentStatus
}

/// What became of a status report (`recordReport`).
public enum ReportOutcome: Sendable, Equatable {
    /// About the device's current configuration: stored, or stored already (idempotent).
    case stored
    /// About another configuration than the device's current one (`current`; nil when the
    /// device has none): it settles nothing, and the agent must check in to get the current one.
    case outdated(current: String?)
}

/// The configuration the server holds for a device: its hash, and the document when asked.
public struct StoredConfiguration: Sendable {
    public var hash: String
    public var deliveredHash: String?
}

extension PalisadeStore {
    public func deviceCredentials(deviceId: String) async throws -> DeviceCredentials? {
        try await read { sql in
            guard let row = try await sql.raw("SELECT tenant_id, public_key, pending_public_key, enrollment_status FROM devices WHERE id = \(bind: deviceId)").first() else {
                return nil
            }
            return DeviceCredentials(
                deviceId: deviceId, tenantId: try row.string("tenant_id"), publicKeyPEM: try row.string("public_key"),
                pendingPublicKeyPEM: try row.optionalString("pending_public_key"),
                status: EnrollmentStatus(rawValue: try row.string("enrollment_status")) ?? .retired)
        }
    }

    /// The device's credentials with its key parsed, from this replica's cache when it holds
    /// them (see `DeviceHotPathCache` for how they are invalidated), else from the database.
    public func cachedDeviceCredentials(deviceId: String) async throws -> (DeviceCredentials, DeviceVerificationKey?)? {
        let cache = notifier.cache
        if let cached = cache.credentials(deviceId) { return (cached.credentials, cached.key) }
        let generation = cache.generation
        guard let credentials = try await deviceCredentials(deviceId: deviceId) else { return nil }
        guard let key = DeviceVerificationKey(pem: credentials.publicKeyPEM) else { return (credentials, nil) }
        cache.storeCredentials(.init(credentials: credentials, key: key), readAt: generation)
        return (credentials, key)
    }

    /// Records an assertion's id; false when it was seen before (a replay). Concurrent calls
    /// share one transaction (`AssertionLedger`); each returns once its batch has committed.
    /// Expired ids are purged on the way, so the table stays small.
    public func recordAssertion(deviceId: String, jti: String, expiresAt: Int64) async throws -> Bool {
        try await assertionLedger.record(.init(deviceId: deviceId, jti: jti, expiresAt: expiresAt))
    }

    /// The hash of the device's current configuration (cheap: one indexed row).
    public func configurationHash(deviceId: String) async throws -> String? {
        try await read { sql in
            try await sql.raw("SELECT configuration_hash FROM device_configurations WHERE device_id = \(bind: deviceId)").first()?.string("configuration_hash")
        }
    }

    /// The device's current configuration as decoded once per distinct document
    /// (`EffectiveConfigurationCache`): its effective configuration, what the agent is sent and
    /// that hash (`configuration_hash`, which the recompute derived from the same document).
    /// `lockRow`: take the row's lock (PostgreSQL, inside a write).
    static func currentConfiguration(deviceId: String, lockRow: Bool = false, cache: EffectiveConfigurationCache,
                                     on sql: any SQLDatabase) async throws -> (hash: String, entry: EffectiveConfigurationCache.Entry)? {
        let forUpdate: SQLQueryString = lockRow ? " FOR UPDATE" : ""
        guard let row = try await sql.raw("""
            SELECT configuration_hash, effective_digest FROM device_configurations WHERE device_id = \(bind: deviceId)\(forUpdate)
            """).first() else {
            return nil
        }
        let hash = try row.string("configuration_hash")
        if let digest = try row.optionalString("effective_digest"), let known = cache.entry(digest: digest) { return (hash, known) }
        guard let document = try await sql.raw("SELECT effective FROM device_configurations WHERE device_id = \(bind: deviceId)").first()?.string("effective") else {
            return nil
        }
        // Keyed by the digest of the document read here, not the column (rows predating it have none).
        return (hash, try cache.decode(document, digest: Digest.sha256Hex(Data(document.utf8))))
    }

    /// What a check-in delivers: the current configuration and its hash.
    public func deliverableConfiguration(deviceId: String) async throws -> (configuration: DeviceConfiguration, hash: String)? {
        let cache = effectiveConfigurations
        return try await read { sql in
            try await Self.currentConfiguration(deviceId: deviceId, cache: cache, on: sql).map { ($0.entry.delivered, $0.hash) }
        }
    }

    public func effectiveConfiguration(deviceId: String) async throws -> EffectiveConfiguration? {
        try await read { sql in try await Self.effectiveConfiguration(deviceId: deviceId, on: sql) }
    }

    static func effectiveConfiguration(deviceId: String, on sql: any SQLDatabase) async throws -> EffectiveConfiguration? {
        try await sql.raw("SELECT effective FROM device_configurations WHERE device_id = \(bind: deviceId)").first()?.json("effective", as: EffectiveConfiguration.self)
    }

    /// Notes a check-in: last seen time and which hash was delivered. An inventory that changed
    /// what rules can read (name, OS or agent version, agent tags), or the first check-in of a
    /// new day (rules read `lastCheckInAt` as a day), goes through the directory under the
    /// tenant's write lock; otherwise only the device row is touched.
    ///
    /// When this replica saw the same inventory from the device earlier the same day (cached,
    /// see `DeviceHotPathCache`), an unchanged check-in only notes the last-seen time, written
    /// behind in batches (`LastSeenWriter`), and a delivery only the time and the delivered
    /// hash, group-committed with other devices' writes (`DeviceWriteBatcher`).
    public func recordCheckIn(deviceId: String, tenant: String, inventory: DeviceProtocol.Inventory?, deliveredHash: String?) async throws {
        let now = clock.nowMillis
        let today = Device.ruleDay(Timestamp.date(now))
        let cache = notifier.cache
        if let last = cache.lastInventory(deviceId), last.ruleDay == today, inventory == nil || inventory == last.inventory {
            guard let deliveredHash else {
                await lastSeen.note(deviceId, at: now)
                return
            }
            // A delivery with nothing else new: no device read, only the batched write.
            try await writeCheckIn(deviceId: deviceId, at: now, lastSeen: true, defenderNews: nil, deliveredHash: deliveredHash)
            return
        }
        let generation = cache.generation
        try await recordCheckInInDatabase(deviceId: deviceId, tenant: tenant, inventory: inventory, deliveredHash: deliveredHash, now: now)
        cache.storeLastInventory(.init(inventory: inventory, ruleDay: today), deviceId: deviceId, readAt: generation)
    }

    private func recordCheckInInDatabase(deviceId: String, tenant: String, inventory: DeviceProtocol.Inventory?, deliveredHash: String?, now: Int64) async throws {
        let device = try await read { sql in try await Self.device(tenant: tenant, id: deviceId, on: sql) }
        let newDay = device.lastCheckInAt.map(Device.ruleDay) != Device.ruleDay(Timestamp.date(now))
        // An inventory without `defender` brings no news of Defender: what is stored stays.
        let changedInventory = inventory.flatMap { inventory in
            let facts = inventory.defender == nil ? inventory.facts.with(defender: device.defender) : inventory.facts
            var stored = device.inventoryFacts
            if inventory.defender == nil { stored = stored.with(defender: device.defender) }
            return facts != stored ? inventory : nil
        }
        let defenderNews = inventory?.defender.flatMap { $0 != device.defender ? $0 : nil }
        let throughDirectory = changedInventory != nil || newDay
        if throughDirectory {
            try await directory.write(tenant: tenant) { sql, directory in
                if let inventory = changedInventory {
                    try await sql.raw("""
                        UPDATE devices SET name = \(bind: inventory.hostname), os_version = \(bind: inventory.osVersion),
                            agent_version = \(bind: inventory.agentVersion), mdm_enrolled = \(bind: inventory.mdmEnrolled ? 1 : 0),
                            agent_tags = \(bind: try encodeJSON(inventory.tags ?? [])), managed_by = \(bind: inventory.managementChannel.rawValue)
                        WHERE id = \(bind: deviceId)
                        """).run()
                }
                if let defenderNews {
                    try await Self.storeDefender(defenderNews, deviceId: deviceId, on: sql)
                }
                try await sql.raw("UPDATE devices SET last_check_in_at = \(bind: now) WHERE id = \(bind: deviceId)").run()
                directory.deviceChanged(deviceId)
            }
        }
        guard !throughDirectory || deliveredHash != nil else { return }
        // News that rules do not read (definitions, real-time protection, issues) skips the directory.
        try await writeCheckIn(deviceId: deviceId, at: now, lastSeen: !throughDirectory, defenderNews: throughDirectory ? nil : defenderNews,
                               deliveredHash: deliveredHash)
    }

    /// A check-in's write outside the directory, group-committed (`DeviceWriteBatcher`): the
    /// last-seen time (unless the directory wrote it), Defender news rules do not read, and
    /// the configuration hash delivered.
    private func writeCheckIn(deviceId: String, at now: Int64, lastSeen: Bool, defenderNews: DefenderStatus?, deliveredHash: String?) async throws {
        try await deviceWrites.write(deviceId: deviceId) { sql in
            if lastSeen {
                try await sql.raw("UPDATE devices SET last_check_in_at = \(bind: now) WHERE id = \(bind: deviceId)").run()
            }
            if let defenderNews {
                try await Self.storeDefender(defenderNews, deviceId: deviceId, on: sql)
            }
            if let deliveredHash {
                try await sql.raw("""
                    UPDATE device_configurations SET delivered_hash = \(bind: deliveredHash), delivered_at = \(bind: now)
                    WHERE device_id = \(bind: deviceId)
                    """).run()
            }
        }
    }

    static func storeDefender(_ status: DefenderStatus, deviceId: String, on sql: any SQLDatabase) async throws {
        try await sql.raw("""
            UPDATE devices SET defender = \(bind: try encodeJSON(status)), defender_installed = \(bind: status.installed ? 1 : 0)
            WHERE id = \(bind: deviceId)
            """).run()
    }

    /// Stores a status report. Idempotent: the same report again changes nothing. A report
    /// about another configuration than the device's current one is `outdated`: its drift
    /// events are kept, the report itself only if no report about the current one exists (so
    /// the device's last word stays visible), and it never settles the current one; the
    /// caller tells the agent so instead of acknowledging it (docs/PROTOCOL.md, section 4).
    /// The device's stored report states and history follow in the same transaction, which
    /// commits before this returns.
    public func recordReport(deviceId: String, tenant: String, report: DeviceProtocol.StatusReport) async throws -> ReportOutcome {
        var results: [String: DeviceProtocol.SettingResult] = [:]
        for result in report.results { results[result.settingId] = result }
        let reported = DeviceReport(configurationHash: report.configurationHash, results: results)
        let resultsJSON = try encodeJSON(results)
        let now = clock.nowMillis
        // On PostgreSQL the device's rows are locked in the order a recompute takes them (the
        // device, then its configuration), so that a recompute committing meanwhile is seen, the
        // stored states follow the configuration that is current, and the two never deadlock.
        let backend = self.backend
        let cache = effectiveConfigurations
        return try await deviceWrites.write(deviceId: deviceId) { sql in
            if backend.kind == .postgres {
                try await sql.raw("SELECT id FROM devices WHERE id = \(bind: deviceId) FOR UPDATE").run()
            }
            // Drift events are kept whatever the report is about; each once (the agent's id), and
            // each new one also in the device's history.
            var driftHistory: [DeviceHistoryRecord] = []
            for event in report.drift ?? [] {
                let inserted = try await sql.raw("""
                    INSERT INTO device_drift_events (id, device_id, tenant_id, setting_id, found_value, restored_value, detail, detected_at, received_at)
                    VALUES (\(bind: event.id), \(bind: deviceId), \(bind: tenant), \(bind: event.settingId), \(bind: try event.found.map(encodeJSON)),
                        \(bind: try event.restored.map(encodeJSON)), \(bind: event.detail),
                        \(bind: Int64((DefenderStatus.date(event.detectedAt) ?? Timestamp.date(now)).timeIntervalSince1970 * 1000)), \(bind: now))
                    ON CONFLICT (device_id, id) DO NOTHING RETURNING id
                    """).first() != nil
                if inserted {
                    let found = event.found.map { $0.compactText } ?? "(missing)"
                    let restored = event.restored.map { $0.compactText } ?? "(removed)"
                    driftHistory.append(DeviceHistoryRecord(
                        deviceId: deviceId, kind: .drift, subjectId: event.settingId, subjectName: event.settingId, oldState: nil, newState: nil, revision: nil,
                        reason: "changed on the device to \(found); restored \(restored)" + (event.detail.map { " (\($0))" } ?? "")))
                }
            }
            try await DirectoryWriter.appendHistory(driftHistory, tenant: tenant, at: now, on: sql)
            // Any report answers a pending "sync now" made before it; the report's time then
            // moves even when its content is the same, so the sync shows as answered.
            let answersSync = try await sql.raw("""
                UPDATE devices SET sync_requested_at = NULL, sync_delivered_at = NULL WHERE tenant_id = \(bind: tenant) AND id = \(bind: deviceId) AND sync_requested_at <= \(bind: now) RETURNING id
                """).first() != nil
            let current = try await Self.currentConfiguration(deviceId: deviceId, lockRow: backend.kind == .postgres, cache: cache, on: sql)
            let currentHash = current?.hash
            let isCurrent = currentHash == report.configurationHash
            let existing = try await sql.raw("SELECT configuration_hash, results, detail FROM device_reports WHERE device_id = \(bind: deviceId)").first()
            let existingHash = try existing?.string("configuration_hash")
            let outcome: ReportOutcome = isCurrent ? .stored : .outdated(current: currentHash)
            if !isCurrent, existingHash != nil, existingHash == currentHash {
                return outcome
            }
            if existingHash == report.configurationHash, try existing?.string("results") == resultsJSON, try existing?.optionalString("detail") == report.detail {
                if answersSync {
                    try await sql.raw("UPDATE device_reports SET reported_at = \(bind: now) WHERE device_id = \(bind: deviceId)").run()
                }
                return outcome
            }
            try await sql.raw("""
                INSERT INTO device_reports (device_id, tenant_id, configuration_hash, results, detail, reported_at)
                VALUES (\(bind: deviceId), \(bind: tenant), \(bind: report.configurationHash), \(bind: resultsJSON), \(bind: report.detail), \(bind: now))
                ON CONFLICT (device_id) DO UPDATE SET configuration_hash = excluded.configuration_hash,
                    results = excluded.results, detail = excluded.detail, reported_at = excluded.reported_at
                """).run()
            if let current {
                try await DirectoryWriter.storeStates(of: [DeviceStateInput(deviceId: deviceId, configuration: current.entry.effective,
                                                                 report: reported)],
                                           tenant: tenant, at: now, on: sql)
            }
            return outcome
        }
    }

    static func deviceReport(deviceId: String, on sql: any SQLDatabase) async throws -> (DeviceReport, Date?) {
        guard let row = try await sql.raw("SELECT configuration_hash, results, reported_at FROM device_reports WHERE device_id = \(bind: deviceId)").first() else {
            return (.none, nil)
        }
        return (DeviceReport(configurationHash: try row.string("configuration_hash"), results: try row.json("results", as: [String: DeviceProtocol.SettingResult].self)),
                Timestamp.date(try row.millis("reported_at")) as Date?)
    }
}

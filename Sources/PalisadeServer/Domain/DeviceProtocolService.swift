import Foundation
import PalisadeCore
import PalisadeIdentity
import SQLKit

/// The device protocol's rules (docs/PROTOCOL.md), for its one front end
/// (`DeviceProtocolController`, `DeviceAssertionMiddleware`): who may enroll and with which key,
/// what a check-in is answered and what it writes, and what a status report settles. The
/// statements are `DeviceProtocolRepository`'s; the hot path's caches and group commits are the
/// store's (see PalisadeStore+HotPath.swift and `DeviceHotPathCache`).
public struct DeviceProtocolService: Sendable {
    let store: PalisadeStore

    public init(store: PalisadeStore) {
        self.store = store
    }

    // MARK: Enrollment

    /// Enrolls a device with an enrollment token. The same hardware id in the same tenant
    /// reuses its device record (and so keeps its memberships) only when the request proves it
    /// is the same device (the same key, or `provenBy`: signed with the device's current key)
    /// or the token was made for re-imaging (`allowReenrollment`). Otherwise the new key waits
    /// for an administrator's approval and the enrolled device keeps working: holding an
    /// enrollment token is not enough to take over a device. A retired device is never
    /// revived: its hardware enrolling again gets a new record.
    public func enroll(_ request: DeviceProtocol.EnrollRequest, sourceAddress: String? = nil, provenBy: String? = nil) async throws -> DeviceProtocol.EnrollResponse {
        let tokenHash = Digest.sha256Hex(Data(request.enrollmentToken.utf8))
        guard let tenant = try await store.read({ sql in try await DeviceProtocolRepository.enrollmentTokenTenant(tokenHash: tokenHash, on: sql) }) else {
            throw DomainError(.unauthenticated, code: .enrollmentTokenInvalid, message: "the enrollment token is not known to this server")
        }
        let inventory = request.inventory
        let clock = store.clock
        return try await store.directory.write(tenant: tenant) { sql, directory in
            // Re-read inside the transaction: uses and revocation may have changed meanwhile.
            guard let token = try await DeviceProtocolRepository.enrollmentToken(tokenHash: tokenHash, tenant: tenant, on: sql) else {
                throw DomainError(.unauthenticated, code: .enrollmentTokenInvalid, message: "the enrollment token is not known to this server")
            }
            if token.revokedAt != nil {
                throw DomainError(.unauthenticated, code: .enrollmentTokenInvalid, message: "the enrollment token \"\(token.name)\" was revoked")
            }
            if token.expiresAt < clock.now {
                throw DomainError(.unauthenticated, code: .enrollmentTokenExpired, message: "the enrollment token \"\(token.name)\" expired at \(token.expiresAt.ISO8601Format())")
            }
            let now = clock.nowMillis
            let enrolled = DeviceProtocolRepository.EnrolledInventory(inventory: inventory, publicKey: request.publicKey)
            let actor = AuditActor(type: .device, id: "", name: inventory.hostname, sourceAddress: sourceAddress)
            let attempt: [String: JSONValue] = [
                "hostname": .string(inventory.hostname), "platform": .string(inventory.platform.rawValue), "hardwareId": .string(inventory.hardwareId),
                "enrollmentToken": .object(["id": .string(token.id), "name": .string(token.name)]),
                "publicKeySHA256": .string(Digest.sha256Hex(Data(request.publicKey.utf8))),
            ]
            let existing = try await DeviceProtocolRepository.device(hardwareId: inventory.hardwareId, tenant: tenant, on: sql)
            // The same hardware id with the same key is the device asking again (an agent whose
            // answer was lost on the way retries): not a new use of the token, even its last.
            let repeatsEnrollment = existing?.publicKey == request.publicKey
            if !repeatsEnrollment {
                if let maxUses = token.maxUses, token.uses >= maxUses {
                    throw DomainError(.unauthenticated, code: .enrollmentTokenExhausted, message: "the enrollment token \"\(token.name)\" has been used \(token.uses) of \(maxUses) times")
                }
                try await DeviceProtocolRepository.countEnrollmentTokenUse(id: token.id, tenant: tenant, on: sql)
            }
            if let existing {
                let deviceId = existing.id
                let reason: String
                if repeatsEnrollment {
                    reason = "the same device key"
                } else if provenBy == deviceId {
                    reason = "a request signed with the device's current key"
                } else if token.allowReenrollment {
                    reason = "an enrollment token that allows re-enrollment"
                } else {
                    try await DeviceProtocolRepository.setPendingKey(request.publicKey, since: now, source: sourceAddress, deviceId: deviceId, tenant: tenant, on: sql)
                    directory.deviceRecordChanged(deviceId)
                    var pending = actor
                    pending.id = deviceId
                    try await PalisadeStore.audit(.deviceReenrollmentPending, by: pending, tenant: tenant, target: ("device", deviceId, inventory.hostname),
                                                  new: attempt, at: now, on: sql)
                    return DeviceProtocol.EnrollResponse(deviceId: deviceId, tenantId: tenant, reenrolled: false, pendingApproval: true)
                }
                try await DeviceProtocolRepository.reenroll(enrolled, at: now, deviceId: deviceId, tenant: tenant, on: sql)
                directory.deviceChanged(deviceId)
                var reenrolled = actor
                reenrolled.id = deviceId
                var value = attempt
                value["acceptedBecause"] = .string(reason)
                try await PalisadeStore.audit(.deviceReenroll, by: reenrolled, tenant: tenant, target: ("device", deviceId, inventory.hostname),
                                              new: value, at: now, on: sql)
                return DeviceProtocol.EnrollResponse(deviceId: deviceId, tenantId: tenant, reenrolled: true)
            }
            let deviceId = Identifier.make()
            try await DeviceProtocolRepository.insertDevice(enrolled, at: now, deviceId: deviceId, tenant: tenant, on: sql)
            directory.deviceChanged(deviceId)
            var newDevice = actor
            newDevice.id = deviceId
            try await PalisadeStore.audit(.deviceEnroll, by: newDevice, tenant: tenant, target: ("device", deviceId, inventory.hostname), new: attempt, at: now, on: sql)
            return DeviceProtocol.EnrollResponse(deviceId: deviceId, tenantId: tenant, reenrolled: false)
        }
    }

    /// Keeps a refused enrollment for the enrollment report (`PalisadeStore.recordRefusedEnrollment`).
    public func recordRefusedEnrollment(enrollmentToken: String?, sourceAddress: String?, inventory: DeviceProtocol.Inventory?, code: String, reason: String) async throws {
        try await store.recordRefusedEnrollment(enrollmentToken: enrollmentToken, sourceAddress: sourceAddress, inventory: inventory, code: code, reason: reason)
    }

    // MARK: Credentials and single-use assertions

    public func credentials(deviceId: String) async throws -> DeviceCredentials? {
        try await store.read { sql in try await DeviceProtocolRepository.credentials(deviceId: deviceId, on: sql) }
    }

    /// The device's credentials with its key parsed, from this replica's cache when it holds
    /// them (see `DeviceHotPathCache` for how they are invalidated), else from the database.
    public func cachedCredentials(deviceId: String) async throws -> (DeviceCredentials, DeviceVerificationKey?)? {
        let cache = store.notifier.cache
        if let cached = cache.credentials(deviceId) { return (cached.credentials, cached.key) }
        let generation = cache.generation
        guard let credentials = try await credentials(deviceId: deviceId) else { return nil }
        guard let key = DeviceVerificationKey(pem: credentials.publicKeyPEM) else { return (credentials, nil) }
        cache.storeCredentials(.init(credentials: credentials, key: key), readAt: generation)
        return (credentials, key)
    }

    /// Records an assertion's id; false when it was seen before (a replay). Concurrent calls
    /// share one transaction (`AssertionLedger`); each returns once its batch has committed.
    /// Expired ids are purged on the way, so the table stays small.
    public func recordAssertion(deviceId: String, jti: String, expiresAt: Int64) async throws -> Bool {
        try await store.assertionLedger.record(.init(deviceId: deviceId, jti: jti, expiresAt: expiresAt))
    }

    // MARK: Check-ins

    /// The hash of the device's current configuration (one indexed row).
    public func configurationHash(deviceId: String, tenant: String) async throws -> String? {
        try await store.read { sql in try await DeviceProtocolRepository.configurationHash(deviceId: deviceId, tenant: tenant, on: sql) }
    }

    /// What a check-in of a device holding `deviceHash` is answered from: the configuration
    /// hash, and whether to ask the device to report. It is asked when an administrator's sync
    /// request is due (not answered by a report, nor carried by a recent check-in), or when it
    /// holds its current configuration and the server has no report of it: a report lost for
    /// any reason (a crash, a report of an older configuration with the same settings) then
    /// corrects itself. The agent sends any report it holds before it checks in, so a device
    /// that checks in with the current hash and no stored report of it has none on the way.
    ///
    /// Only the steady state is cached on this replica (no sync request, the stored report
    /// about the current configuration): a configuration change or a sync request invalidates
    /// it (`notifier.notify`), and a report cannot unsettle it (one about another
    /// configuration is not stored while one about the current one is).
    public func checkInState(deviceId: String, tenant: String, deviceHash: String?) async throws -> CheckInState {
        let now = store.clock.nowMillis
        let cache = store.notifier.cache
        if let hash = cache.configurationHash(deviceId) { return CheckInState(configurationHash: hash) }
        let generation = cache.generation
        let (state, configuration) = try await store.read { sql -> (CheckInState, String?) in
            guard let row = try await DeviceProtocolRepository.checkInRow(deviceId: deviceId, tenant: tenant, on: sql) else {
                return (CheckInState(configurationHash: nil), nil)
            }
            let hash = row.configurationHash
            let reported = hash == nil || row.reportedHash == hash
            // Which configuration it is (a new revision with the same hash is a new document).
            let configuration = row.effectiveDigest ?? hash
            guard row.syncRequestedAt != nil else {
                if reported { cache.storeConfigurationHash(hash, deviceId: deviceId, readAt: generation) }
                return (CheckInState(configurationHash: hash, reportMissing: !reported), configuration)
            }
            let syncDue = row.syncDeliveredAt.map { now - $0 >= PalisadeStore.syncRedeliveryMillis } ?? true
            return (CheckInState(configurationHash: hash, syncDue: syncDue, reportMissing: !reported), configuration)
        }
        // Missing matters only for the configuration the device says it holds.
        var checked = state
        if let configuration, checked.reportMissing {
            checked.reportMissing = deviceHash != nil && deviceHash == state.configurationHash
                && cache.askForReport(deviceId, configuration: configuration, at: now, interval: PalisadeStore.reportRequestRepeatMillis)
        } else {
            checked.reportMissing = false
        }
        return checked
    }

    /// The device's current configuration as decoded once per distinct document
    /// (`EffectiveConfigurationCache`): its effective configuration, what the agent is sent and
    /// that hash (`configuration_hash`, which the recompute derived from the same document).
    /// `lockRow`: take the row's lock (PostgreSQL, inside a write).
    static func currentConfiguration(deviceId: String, tenant: String, lockRow: Bool = false, cache: EffectiveConfigurationCache,
                                     on sql: any SQLDatabase) async throws -> (hash: String, entry: EffectiveConfigurationCache.Entry)? {
        guard let (hash, digest) = try await DeviceProtocolRepository.configurationDigest(deviceId: deviceId, tenant: tenant, lockRow: lockRow, on: sql) else {
            return nil
        }
        if let digest, let known = cache.entry(digest: digest) { return (hash, known) }
        guard let document = try await DeviceProtocolRepository.effectiveDocument(deviceId: deviceId, tenant: tenant, on: sql) else { return nil }
        // Keyed by the digest of the document read here, not the column (rows predating it have none).
        return (hash, try cache.decode(document, digest: Digest.sha256Hex(Data(document.utf8))))
    }

    /// What a check-in delivers: the current configuration and its hash.
    public func deliverableConfiguration(deviceId: String, tenant: String) async throws -> (configuration: DeviceConfiguration, hash: String)? {
        let cache = store.effectiveConfigurations
        return try await store.read { sql in
            try await Self.currentConfiguration(deviceId: deviceId, tenant: tenant, cache: cache, on: sql).map { ($0.entry.delivered, $0.hash) }
        }
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
        let now = store.clock.nowMillis
        let today = Device.ruleDay(Timestamp.date(now))
        let cache = store.notifier.cache
        if let last = cache.lastInventory(deviceId), last.ruleDay == today, inventory == nil || inventory == last.inventory {
            guard let deliveredHash else {
                await store.lastSeen.note(deviceId, tenant: tenant, at: now)
                return
            }
            // A delivery with nothing else new: no device read, only the batched write.
            try await writeCheckIn(deviceId: deviceId, tenant: tenant, at: now, lastSeen: true, defenderNews: nil, deliveredHash: deliveredHash)
            return
        }
        let generation = cache.generation
        try await recordCheckInInDatabase(deviceId: deviceId, tenant: tenant, inventory: inventory, deliveredHash: deliveredHash, now: now)
        cache.storeLastInventory(.init(inventory: inventory, ruleDay: today), deviceId: deviceId, readAt: generation)
    }

    private func recordCheckInInDatabase(deviceId: String, tenant: String, inventory: DeviceProtocol.Inventory?, deliveredHash: String?, now: Int64) async throws {
        let device = try await store.read { sql in try await PalisadeStore.device(tenant: tenant, id: deviceId, on: sql) }
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
            try await store.directory.write(tenant: tenant) { sql, directory in
                if let inventory = changedInventory {
                    try await DeviceProtocolRepository.updateInventory(inventory, deviceId: deviceId, tenant: tenant, on: sql)
                }
                if let defenderNews {
                    try await DeviceProtocolRepository.storeDefender(defenderNews, deviceId: deviceId, tenant: tenant, on: sql)
                }
                try await DeviceProtocolRepository.setLastCheckIn(now, deviceId: deviceId, tenant: tenant, on: sql)
                directory.deviceChanged(deviceId)
            }
        }
        guard !throughDirectory || deliveredHash != nil else { return }
        // News that rules do not read (definitions, real-time protection, issues) skips the directory.
        try await writeCheckIn(deviceId: deviceId, tenant: tenant, at: now, lastSeen: !throughDirectory,
                               defenderNews: throughDirectory ? nil : defenderNews, deliveredHash: deliveredHash)
    }

    /// A check-in's write outside the directory, group-committed (`DeviceWriteBatcher`): the
    /// last-seen time (unless the directory wrote it), Defender news rules do not read, and
    /// the configuration hash delivered.
    private func writeCheckIn(deviceId: String, tenant: String, at now: Int64, lastSeen: Bool, defenderNews: DefenderStatus?, deliveredHash: String?) async throws {
        try await store.deviceWrites.write(deviceId: deviceId) { sql in
            if lastSeen {
                try await DeviceProtocolRepository.setLastCheckIn(now, deviceId: deviceId, tenant: tenant, on: sql)
            }
            if let defenderNews {
                try await DeviceProtocolRepository.storeDefender(defenderNews, deviceId: deviceId, tenant: tenant, on: sql)
            }
            if let deliveredHash {
                try await DeviceProtocolRepository.setDelivered(deliveredHash, at: now, deviceId: deviceId, tenant: tenant, on: sql)
            }
        }
    }

    /// Notes that a check-in carried the device's sync request.
    public func recordSyncDelivered(deviceId: String, tenant: String) async throws {
        let now = store.clock.nowMillis
        try await store.backend.write(lockKey: "device:\(deviceId)") { sql in
            try await DeviceProtocolRepository.setSyncDelivered(at: now, deviceId: deviceId, tenant: tenant, on: sql)
        }
    }

    // MARK: Status reports

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
        let now = store.clock.nowMillis
        // On PostgreSQL the device's rows are locked in the order a recompute takes them (the
        // device, then its configuration), so that a recompute committing meanwhile is seen, the
        // stored states follow the configuration that is current, and the two never deadlock.
        let lockRows = store.backend.kind == .postgres
        let cache = store.effectiveConfigurations
        return try await store.deviceWrites.write(deviceId: deviceId) { sql in
            if lockRows {
                try await DeviceProtocolRepository.lockDevice(deviceId, tenant: tenant, on: sql)
            }
            // Drift events are kept whatever the report is about; each once (the agent's id), and
            // each new one also in the device's history.
            var driftHistory: [DeviceHistoryRecord] = []
            for event in report.drift ?? [] {
                guard try await DeviceProtocolRepository.insertDriftEvent(event, receivedAt: now, deviceId: deviceId, tenant: tenant, on: sql) else { continue }
                let found = event.found.map { $0.compactText } ?? "(missing)"
                let restored = event.restored.map { $0.compactText } ?? "(removed)"
                driftHistory.append(DeviceHistoryRecord(
                    deviceId: deviceId, kind: .drift, subjectId: event.settingId, subjectName: event.settingId, oldState: nil, newState: nil, revision: nil,
                    reason: "changed on the device to \(found); restored \(restored)" + (event.detail.map { " (\($0))" } ?? "")))
            }
            try await DirectoryWriter.appendHistory(driftHistory, tenant: tenant, at: now, on: sql)
            // Any report answers a pending "sync now" made before it; the report's time then
            // moves even when its content is the same, so the sync shows as answered.
            let answersSync = try await DeviceProtocolRepository.answerSync(at: now, deviceId: deviceId, tenant: tenant, on: sql)
            let current = try await Self.currentConfiguration(deviceId: deviceId, tenant: tenant, lockRow: lockRows, cache: cache, on: sql)
            let currentHash = current?.hash
            let isCurrent = currentHash == report.configurationHash
            let existing = try await DeviceProtocolRepository.storedReport(deviceId: deviceId, tenant: tenant, on: sql)
            let outcome: ReportOutcome = isCurrent ? .stored : .outdated(current: currentHash)
            if !isCurrent, let existing, existing.hash == currentHash {
                return outcome
            }
            if let existing, existing.hash == report.configurationHash, existing.results == resultsJSON, existing.detail == report.detail {
                if answersSync {
                    try await DeviceProtocolRepository.touchReport(at: now, deviceId: deviceId, tenant: tenant, on: sql)
                }
                return outcome
            }
            try await DeviceProtocolRepository.storeReport(hash: report.configurationHash, results: resultsJSON, detail: report.detail, at: now,
                                                           deviceId: deviceId, tenant: tenant, on: sql)
            if let current {
                try await DirectoryWriter.storeStates(of: [DeviceStateInput(deviceId: deviceId, configuration: current.entry.effective, report: reported)],
                                                      tenant: tenant, at: now, on: sql)
            }
            return outcome
        }
    }
}

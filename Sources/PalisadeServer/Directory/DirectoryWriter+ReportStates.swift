import Foundation
import PalisadeCore
import SQLKit

/// The per-setting states of one (device, policy), stored in `device_policy_targets.setting_states`
/// as `,<code><settingId>,<code><settingId>,` (one letter per state). Compact, parsed without a
/// JSON decoder by the per-setting report, and matched with LIKE when listing the devices in one
/// state of one setting.
public enum StoredSettingStates {
    static func code(_ state: SettingState) -> Character {
        switch state {
        case .succeeded: "s"
        case .error: "e"
        case .conflict: "c"
        case .pending: "p"
        case .notApplicable: "n"
        }
    }

    static func state(_ code: UInt8) -> SettingState? {
        switch code {
        case UInt8(ascii: "s"): .succeeded
        case UInt8(ascii: "e"): .error
        case UInt8(ascii: "c"): .conflict
        case UInt8(ascii: "p"): .pending
        case UInt8(ascii: "n"): .notApplicable
        default: nil
        }
    }

    public static func encode(_ states: [String: SettingState]) -> String {
        guard !states.isEmpty else { return "" }
        var text = ","
        for (id, state) in states.sorted(by: { $0.key < $1.key }) {
            text.append(code(state))
            text += escaped(id)
            text += ","
        }
        return text
    }

    /// Catalog ids hold no comma, but the keys of keyed settings in conflict (`id[key]`) may.
    static func escaped(_ id: String) -> String {
        guard id.contains(where: { $0 == "," || $0 == "%" }) else { return id }
        return id.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: ",", with: "%2C")
    }

    static func unescaped(_ id: Substring) -> String {
        guard id.contains("%") else { return String(id) }
        return id.replacingOccurrences(of: "%2C", with: ",").replacingOccurrences(of: "%25", with: "%")
    }

    /// Calls `body` with each setting id (as stored: `unescaped` gives the id) and its state.
    static func forEach(in text: String, _ body: (Substring, SettingState) -> Void) {
        let comma = UInt8(ascii: ",")
        let utf8 = text.utf8
        var index = utf8.startIndex
        guard index != utf8.endIndex, utf8[index] == comma else { return }
        index = utf8.index(after: index)
        while index != utf8.endIndex {
            guard let state = state(utf8[index]) else { return }
            let idStart = utf8.index(after: index)
            guard let end = utf8[idStart...].firstIndex(of: comma) else { return }
            body(text[idStart..<end], state)
            index = utf8.index(after: end)
        }
    }

    static func decode(_ text: String) -> [String: SettingState] {
        var states: [String: SettingState] = [:]
        forEach(in: text) { id, state in states[unescaped(id)] = state }
        return states
    }

    /// A LIKE pattern matching rows where `settingId` is in `state` (any state when nil).
    static func likePattern(settingId: String, state: SettingState?) -> String {
        "%," + (state.map { String(code($0)) } ?? "_") + escapeLike(escaped(settingId)) + ",%"
    }
}

/// `\` escapes LIKE's wildcards (statements say `ESCAPE '\'`).
func escapeLike(_ text: String) -> String {
    var escaped = ""
    for character in text {
        if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
        escaped.append(character)
    }
    return escaped
}

/// One device whose stored states are brought in line with its configuration and report.
struct DeviceStateInput: Sendable {
    var deviceId: String
    var configuration: EffectiveConfiguration
    var report: DeviceReport
    /// Set when the states depend on the configuration alone (no report about it yet): devices
    /// with the same key share one evaluation (a recompute of 100k devices has about a fifth
    /// as many distinct configurations).
    var shareKey: String? = nil
}

extension DirectoryWriter {
    /// Brings the stored states of these devices in line with their configuration and report,
    /// inside the caller's transaction: `device_policy_targets` (which policies reach each
    /// device, at which revision, in which state, with each setting's state), `devices.report_state`,
    /// and a `device_history` event for every policy whose state or revision changed and every
    /// setting entering or leaving error, conflict or notApplicable. Rows that did not change are
    /// not written. Used by the report ingest, the configuration recompute and the migration.
    static func storeStates(of inputs: [DeviceStateInput], tenant: String, at now: Int64, history: Bool = true, on sql: any SQLDatabase) async throws {
        var shared: [String: EvaluatedStates] = [:]
        for chunk in inputs.chunked() {
            try await storeStatesChunk(chunk, tenant: tenant, at: now, history: history, shared: &shared, on: sql)
            if shared.count > 50_000 { shared.removeAll() }
        }
    }

    /// A device's outcome with each policy's per-setting states already encoded.
    private struct EvaluatedStates: Sendable {
        var outcome: DeviceOutcome
        var settingStates: [String: String]

        init(_ input: DeviceStateInput) {
            outcome = StatusEvaluator.outcome(of: input.configuration, report: input.report)
            settingStates = outcome.policies.mapValues { StoredSettingStates.encode($0.settings) }
        }
    }

    private struct StoredTarget: Sendable, Equatable {
        var revision: Int
        var state: SettingState
        var settingStates: String
    }

    private struct TargetRow: Sendable {
        var deviceId: String
        var policyId: String
        var target: StoredTarget
    }

    private static func storeStatesChunk(_ inputs: [DeviceStateInput], tenant: String, at now: Int64, history: Bool,
                                         shared: inout [String: EvaluatedStates], on sql: any SQLDatabase) async throws {
        let ids = inputs.map(\.deviceId)
        var stored: [String: [String: StoredTarget]] = [:]
        for row in try await sql.raw("""
            SELECT device_id, policy_id, revision, state, setting_states FROM device_policy_targets
            WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND device_id IN (\(binds: ids))
            """).all() {
            stored[try row.string("device_id"), default: [:]][try row.string("policy_id")] = StoredTarget(
                revision: try row.int("revision"), state: SettingState(rawValue: try row.string("state")) ?? .pending, settingStates: try row.string("setting_states"))
        }
        var storedDeviceStates: [String: String] = [:]
        for row in try await sql.raw("SELECT id, report_state FROM devices WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND id IN (\(binds: ids))").all() {
            storedDeviceStates[try row.string("id")] = try row.string("report_state")
        }

        var upserts: [TargetRow] = []
        var deletes: [TargetRow] = []
        var deviceStates: [SettingState: [String]] = [:]
        var events: [DeviceHistoryRecord] = []
        var removedPolicies: Set<String> = []
        for input in inputs {
            let evaluated: EvaluatedStates
            if let key = input.shareKey, let known = shared[key] {
                evaluated = known
            } else {
                evaluated = EvaluatedStates(input)
                if let key = input.shareKey { shared[key] = evaluated }
            }
            let outcome = evaluated.outcome
            let old = stored[input.deviceId] ?? [:]
            for (policyId, policy) in outcome.policies {
                let target = StoredTarget(revision: policy.policy.revision, state: policy.state, settingStates: evaluated.settingStates[policyId] ?? "")
                let before = old[policyId]
                if before != target { upserts.append(TargetRow(deviceId: input.deviceId, policyId: policyId, target: target)) }
                if history, before?.state != policy.state || before?.revision != policy.policy.revision {
                    events.append(DeviceHistoryRecord(
                        deviceId: input.deviceId, kind: .policyState, subjectId: policyId, subjectName: policy.policy.name,
                        oldState: before?.state.rawValue, newState: policy.state.rawValue, revision: policy.policy.revision,
                        reason: policyReason(policy, before: before, exclusion: input.configuration.exclusion)))
                }
            }
            for (policyId, before) in old where outcome.policies[policyId] == nil {
                deletes.append(TargetRow(deviceId: input.deviceId, policyId: policyId, target: before))
                removedPolicies.insert(policyId)
                if history {
                    events.append(DeviceHistoryRecord(
                        deviceId: input.deviceId, kind: .policyState, subjectId: policyId, subjectName: policyId,
                        oldState: before.state.rawValue, newState: nil, revision: before.revision,
                        reason: input.configuration.exclusion.map { "no longer delivered: \($0)" } ?? "the policy no longer targets the device"))
                }
            }
            if history {
                events += settingEvents(deviceId: input.deviceId, old: old, outcome: outcome)
            }
            if storedDeviceStates[input.deviceId] != outcome.state.rawValue {
                deviceStates[outcome.state, default: []].append(input.deviceId)
            }
        }

        // By policy, so that each delete looks its rows up by the primary key (a row-value
        // `(policy_id, device_id) IN (VALUES ...)` made SQLite scan the table).
        for (policyId, targets) in Dictionary(grouping: deletes, by: \.policyId).sorted(by: { $0.key < $1.key }) {
            for batch in targets.map(\.deviceId).chunked() {
                try await sql.raw("""
                    DELETE FROM device_policy_targets
                    WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND policy_id = \(bind: policyId) AND device_id IN (\(binds: batch))
                    """).run()
            }
        }
        for batch in upserts.chunked(500) {
            try await sql.raw(SQLQueryString.insert(
                "INSERT INTO device_policy_targets (tenant_id, policy_id, device_id, revision, state, setting_states) VALUES ",
                rows: batch.map { "(\(bind: tenant), \(bind: $0.policyId), \(bind: $0.deviceId), \(bind: $0.target.revision), \(bind: $0.target.state.rawValue), \(bind: $0.target.settingStates))" },
                suffix: " ON CONFLICT (policy_id, device_id) DO UPDATE SET revision = excluded.revision, state = excluded.state, setting_states = excluded.setting_states")).run()
        }
        for (state, devices) in deviceStates {
            for batch in devices.chunked() {
                try await sql.raw("UPDATE devices SET report_state = \(bind: state.rawValue) WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: batch))").run()
            }
        }
        if !removedPolicies.isEmpty, !events.isEmpty {
            // Removed targets name their policy when it still exists.
            var names: [String: String] = [:]
            for batch in Array(removedPolicies).chunked() {
                for row in try await sql.raw("SELECT id, name FROM policies WHERE tenant_id = \(bind: tenant) AND id IN (\(binds: batch))").all() {
                    names[try row.string("id")] = try row.string("name")
                }
            }
            for index in events.indices where events[index].newState == nil && events[index].kind == .policyState {
                events[index].subjectName = names[events[index].subjectId] ?? events[index].subjectId
            }
        }
        try await appendHistory(events, tenant: tenant, at: now, on: sql)
    }

    private static func policyReason(_ policy: DeviceOutcome.Policy, before: StoredTarget?, exclusion: String?) -> String {
        if let before, before.revision != policy.policy.revision, policy.state != .pending {
            return "new revision delivered: revision \(policy.policy.revision); " + policyReason(policy, before: nil, exclusion: exclusion)
        }
        switch policy.state {
        case .pending:
            if before == nil { return "the policy now targets the device: revision \(policy.policy.revision) delivered" }
            if before?.revision != policy.policy.revision { return "new revision delivered: revision \(policy.policy.revision)" }
            return "a new configuration was delivered to the device (another policy, a membership or the scope changed)"
        case .succeeded:
            return "the agent reported every setting applied"
        case .error, .conflict, .notApplicable:
            return policy.reason ?? exclusion ?? policy.state.rawValue
        }
    }

    /// Setting events: a setting entering or leaving error, conflict or notApplicable. The
    /// routine round trip through pending (a new configuration, then its report) is told by
    /// the policy events alone: one per policy, not one per setting.
    private static func settingEvents(deviceId: String, old: [String: StoredTarget], outcome: DeviceOutcome) -> [DeviceHistoryRecord] {
        var before: [String: SettingState] = [:]
        for target in old.values {
            for (id, state) in StoredSettingStates.decode(target.settingStates) { before[id] = state }
        }
        let routine: Set<SettingState> = [.pending, .succeeded]
        var events: [DeviceHistoryRecord] = []
        for id in Set(before.keys).union(outcome.settings.keys).sorted() {
            let oldState = before[id]
            let status = outcome.settings[id]
            guard oldState != status?.state, !(routine.contains(oldState ?? .pending) && routine.contains(status?.state ?? .pending)) else { continue }
            let reason: String = switch status?.state {
            case nil: "no longer managed on the device"
            case .succeeded: "the agent reported it applied"
            case .pending: "a new configuration was delivered"
            case .error: status?.detail ?? "the agent reported an error"
            case .conflict, .notApplicable: status?.detail ?? (status?.state == .conflict ? "policies disagree" : "not applicable on this device")
            }
            events.append(DeviceHistoryRecord(
                deviceId: deviceId, kind: .settingState, subjectId: id, subjectName: id, oldState: oldState?.rawValue, newState: status?.state.rawValue,
                revision: status?.policies.first?.revision, reason: reason))
        }
        return events
    }

    /// Appends history events in the caller's transaction (issue 11's drift events come here too).
    /// Ids grow with time (`<millis>-<random run>-<index>`, hex): a transaction's events append
    /// at the end of the primary key instead of landing at random places in it (a recompute of
    /// 100k devices writes hundreds of thousands), and keep their order within the transaction.
    static func appendHistory(_ events: [DeviceHistoryRecord], tenant: String, at now: Int64, on sql: any SQLDatabase) async throws {
        guard !events.isEmpty else { return }
        let run = String(format: "%016llx-%08x-", UInt64(max(0, now)), UInt32.random(in: .min ... .max))
        for (batchIndex, batch) in events.chunked(500).enumerated() {
            try await sql.raw(SQLQueryString.insert(
                "INSERT INTO device_history (id, tenant_id, device_id, at, kind, subject_id, subject_name, old_state, new_state, revision, reason) VALUES ",
                rows: batch.enumerated().map { index, event in
                    let id = run + String(format: "%08x", batchIndex * 500 + index)
                    return "(\(bind: id), \(bind: tenant), \(bind: event.deviceId), \(bind: now), \(bind: event.kind.rawValue), \(bind: event.subjectId), \(bind: event.subjectName), \(bind: event.oldState), \(bind: event.newState), \(bind: event.revision), \(bind: event.reason))"
                })).run()
        }
    }
}

/// The kinds of device history events. Issue 11 adds drift here.
public enum DeviceHistoryKind: String, Codable, Sendable, CaseIterable {
    /// A policy's state on the device changed (or it started or stopped targeting the device).
    case policyState
    /// A setting entered or left error, conflict or notApplicable.
    case settingState
    /// A value was changed on the device behind the agent's back and put back (issue 11's drift
    /// events; the tenant-wide list is `GET /reports/drift`).
    case drift
}

/// One event to append to `device_history`.
struct DeviceHistoryRecord: Sendable {
    var deviceId: String
    var kind: DeviceHistoryKind
    /// The policy id or setting id the event is about.
    var subjectId: String
    var subjectName: String
    var oldState: String?
    var newState: String?
    var revision: Int?
    var reason: String
}

import Foundation
import PalisadeCore
import Logging
import SQLKit

/// Versioned schema migrations, applied in order at start in one write transaction under a global lock (both engines have transactional DDL).
/// The SQL is written once for both engines: TEXT, BIGINT, no engine-specific types.
///
/// A migration is frozen once written: what it does to a database must not change when the rest
/// of the app does. So a migration is SQL, or a backfill written out in this file, never a call
/// to store or domain code (`PalisadeStore`, `StatusEvaluator`, ...), which moves on with the
/// app; a change to how data is derived is a new migration.
enum Migrations {
    struct Migration {
        var version: Int
        var name: String
        var statements: [String]
        /// Runs after the statements, in the same transaction, for data SQL alone cannot derive.
        /// Written out in this file (see `Migrations`), never a call to live code.
        var backfill: (@Sendable (any SQLDatabase) async throws -> Void)? = nil
    }

    static let all: [Migration] = [
        Migration(version: 1, name: "initial schema", statements: [
            """
            CREATE TABLE tenants (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                created_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE enrollment_tokens (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                expires_at BIGINT NOT NULL,
                max_uses BIGINT,
                uses BIGINT NOT NULL,
                revoked_at BIGINT,
                created_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX enrollment_tokens_tenant ON enrollment_tokens (tenant_id, id)",
            """
            CREATE TABLE devices (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                platform TEXT NOT NULL,
                os_version TEXT NOT NULL,
                hardware_id TEXT NOT NULL,
                agent_version TEXT NOT NULL,
                managed_by TEXT NOT NULL,
                mdm_enrolled BIGINT NOT NULL,
                defender_installed BIGINT,
                enrollment_status TEXT NOT NULL,
                public_key TEXT NOT NULL,
                tags TEXT NOT NULL,
                enrolled_at BIGINT NOT NULL,
                last_check_in_at BIGINT,
                retired_at BIGINT,
                UNIQUE (tenant_id, hardware_id)
            )
            """,
            "CREATE INDEX devices_tenant ON devices (tenant_id, id)",
            """
            CREATE TABLE device_groups (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                UNIQUE (tenant_id, name)
            )
            """,
            """
            CREATE TABLE group_members (
                tenant_id TEXT NOT NULL,
                group_id TEXT NOT NULL REFERENCES device_groups(id) ON DELETE CASCADE,
                device_id TEXT NOT NULL REFERENCES devices(id),
                added_at BIGINT NOT NULL,
                PRIMARY KEY (group_id, device_id)
            )
            """,
            "CREATE INDEX group_members_device ON group_members (device_id)",
            """
            CREATE TABLE policies (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                platform TEXT NOT NULL,
                template TEXT NOT NULL,
                revision BIGINT NOT NULL,
                settings TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX policies_tenant ON policies (tenant_id, id)",
            """
            CREATE TABLE policy_revisions (
                policy_id TEXT NOT NULL,
                revision BIGINT NOT NULL,
                tenant_id TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                settings TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (policy_id, revision)
            )
            """,
            """
            CREATE TABLE policy_assignments (
                tenant_id TEXT NOT NULL,
                policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
                group_id TEXT NOT NULL REFERENCES device_groups(id) ON DELETE CASCADE,
                mode TEXT NOT NULL,
                PRIMARY KEY (policy_id, group_id)
            )
            """,
            "CREATE INDEX policy_assignments_group ON policy_assignments (group_id)",
            """
            CREATE TABLE device_configurations (
                device_id TEXT PRIMARY KEY REFERENCES devices(id),
                tenant_id TEXT NOT NULL,
                configuration_hash TEXT NOT NULL,
                effective TEXT NOT NULL,
                computed_at BIGINT NOT NULL,
                delivered_hash TEXT,
                delivered_at BIGINT
            )
            """,
            """
            CREATE TABLE device_policy_targets (
                tenant_id TEXT NOT NULL,
                policy_id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                revision BIGINT NOT NULL,
                PRIMARY KEY (policy_id, device_id)
            )
            """,
            "CREATE INDEX device_policy_targets_device ON device_policy_targets (device_id)",
            """
            CREATE TABLE device_reports (
                device_id TEXT PRIMARY KEY REFERENCES devices(id),
                tenant_id TEXT NOT NULL,
                configuration_hash TEXT NOT NULL,
                results TEXT NOT NULL,
                detail TEXT,
                reported_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE device_assertion_nonces (
                device_id TEXT NOT NULL,
                jti TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                PRIMARY KEY (device_id, jti)
            )
            """,
            "CREATE INDEX device_assertion_nonces_expiry ON device_assertion_nonces (expires_at)",
        ]),
        Migration(version: 2, name: "dynamic groups and agent-reported tags", statements: [
            // A group with a rule is dynamic: group_members holds its evaluated members.
            "ALTER TABLE device_groups ADD COLUMN membership_rule TEXT",
            "ALTER TABLE devices ADD COLUMN agent_tags TEXT NOT NULL DEFAULT '[]'",
        ]),
        Migration(version: 3, name: "tenant settings: enforcement scope, stale devices", statements: [
            """
            CREATE TABLE tenant_settings (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
                enforcement TEXT NOT NULL,
                stale_after_days BIGINT NOT NULL
            )
            """,
        ]),
        Migration(version: 4, name: "nested groups", statements: [
            """
            CREATE TABLE group_nesting (
                tenant_id TEXT NOT NULL,
                parent_id TEXT NOT NULL REFERENCES device_groups(id),
                child_id TEXT NOT NULL REFERENCES device_groups(id),
                PRIMARY KEY (parent_id, child_id)
            )
            """,
            "CREATE INDEX group_nesting_child ON group_nesting (child_id)",
        ]),
        Migration(version: 5, name: "directory versions and change log (replicas keep their directory engines in step)", statements: [
            """
            CREATE TABLE directory_versions (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
                version BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE directory_changes (
                tenant_id TEXT NOT NULL,
                version BIGINT NOT NULL,
                kind TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                PRIMARY KEY (tenant_id, version, kind, entity_id)
            )
            """,
            // Dynamic memberships are derived in memory by the directory engine from now on;
            // group_members keeps only the devices admins listed in static groups.
            "DELETE FROM group_members WHERE group_id IN (SELECT id FROM device_groups WHERE membership_rule IS NOT NULL)",
            // A recompute compares digests of the effective configuration (provenance included)
            // instead of reading every stored document back.
            "ALTER TABLE device_configurations ADD COLUMN effective_digest TEXT",
        ]),
        Migration(version: 6, name: "people, roles, API tokens with expiry, sessions, audit log", statements: [
            "ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT",
            "ALTER TABLE api_tokens ADD COLUMN revoked_at BIGINT",
            "ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT",
            "ALTER TABLE api_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT ''",
            "UPDATE api_tokens SET role = 'administrator' WHERE role = 'owner'",
            "CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, id)",
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                email TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                role TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                failed_sign_ins BIGINT NOT NULL,
                locked_until BIGINT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX users_tenant ON users (tenant_id, id)",
            """
            CREATE TABLE sessions (
                id_hash TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id),
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                csrf_token TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                last_seen_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX sessions_user ON sessions (user_id)",
            """
            CREATE TABLE audit_events (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                at BIGINT NOT NULL,
                actor_type TEXT NOT NULL,
                actor_id TEXT NOT NULL,
                actor_name TEXT NOT NULL,
                source_address TEXT,
                action TEXT NOT NULL,
                target_type TEXT NOT NULL,
                target_id TEXT NOT NULL,
                target_name TEXT NOT NULL,
                old_value TEXT,
                new_value TEXT
            )
            """,
            "CREATE INDEX audit_events_tenant_at ON audit_events (tenant_id, at, id)",
        ]),
        Migration(version: 7, name: "device identity: pending re-enrollments, retired devices kept apart, re-imaging tokens", statements: [
            "ALTER TABLE devices ADD COLUMN original_hardware_id TEXT",
            "ALTER TABLE devices ADD COLUMN pending_public_key TEXT",
            "ALTER TABLE devices ADD COLUMN pending_since BIGINT",
            "ALTER TABLE devices ADD COLUMN pending_source TEXT",
            "ALTER TABLE enrollment_tokens ADD COLUMN allow_reenrollment BIGINT NOT NULL DEFAULT 0",
            // A retired device never comes back: the hardware enrolling again gets a new record.
            "UPDATE devices SET original_hardware_id = hardware_id, hardware_id = 'retired:' || id WHERE enrollment_status = 'retired'",
        ]),
        Migration(version: 8, name: "reports: stored per-policy, per-setting and per-device states; device history", statements: [
            "ALTER TABLE device_policy_targets ADD COLUMN state TEXT NOT NULL DEFAULT 'pending'",
            // ",<state letter><setting id>," per setting the policy contributes (StoredSettingStates).
            "ALTER TABLE device_policy_targets ADD COLUMN setting_states TEXT NOT NULL DEFAULT ''",
            // The worst state over the device's settings (SettingState), for filters and the overview.
            "ALTER TABLE devices ADD COLUMN report_state TEXT NOT NULL DEFAULT 'pending'",
            "CREATE INDEX device_policy_targets_state ON device_policy_targets (tenant_id, policy_id, state, device_id)",
            "CREATE INDEX devices_report_state ON devices (tenant_id, report_state, id)",
            "CREATE INDEX devices_name ON devices (tenant_id, name, id)",
            "CREATE INDEX devices_platform ON devices (tenant_id, platform, id)",
            """
            CREATE TABLE device_history (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                device_id TEXT NOT NULL,
                at BIGINT NOT NULL,
                kind TEXT NOT NULL,
                subject_id TEXT NOT NULL,
                subject_name TEXT NOT NULL,
                old_state TEXT,
                new_state TEXT,
                revision BIGINT,
                reason TEXT NOT NULL
            )
            """,
            "CREATE INDEX device_history_device ON device_history (device_id, at, id)",
        ], backfill: { sql in try await ReportStatesBackfill.run(on: sql) }),
        Migration(version: 9, name: "sync requests and refused enrollment attempts", statements: [
            // Set by "sync now", cleared by the device's next report: an offline device syncs
            // when it returns.
            "ALTER TABLE devices ADD COLUMN sync_requested_at BIGINT",
            // When a check-in last carried the request: it is carried again only after a
            // while, so an agent that cannot report does not spin.
            "ALTER TABLE devices ADD COLUMN sync_delivered_at BIGINT",
            // Bounded (see PalisadeStore.refusedEnrollmentRetention): an attacker cannot fill
            // the disk. tenant_id is '' when the token named no tenant.
            """
            CREATE TABLE refused_enrollments (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                at BIGINT NOT NULL,
                source_address TEXT,
                hostname TEXT,
                platform TEXT,
                hardware_id TEXT,
                enrollment_token_id TEXT,
                code TEXT NOT NULL,
                reason TEXT NOT NULL
            )
            """,
            "CREATE INDEX refused_enrollments_tenant_at ON refused_enrollments (tenant_id, at, id)",
            "CREATE INDEX refused_enrollments_at ON refused_enrollments (at)",
        ]),
        Migration(version: 10, name: "Defender presence and health per device; drift events the agents report", statements: [
            // DefenderStatus as JSON; devices.defender_installed stays the column lists read.
            "ALTER TABLE devices ADD COLUMN defender TEXT",
            """
            CREATE TABLE device_drift_events (
                id TEXT NOT NULL,
                device_id TEXT NOT NULL REFERENCES devices(id),
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                setting_id TEXT NOT NULL,
                found_value TEXT,
                restored_value TEXT,
                detail TEXT,
                detected_at BIGINT NOT NULL,
                received_at BIGINT NOT NULL,
                PRIMARY KEY (device_id, id)
            )
            """,
            "CREATE INDEX device_drift_events_tenant ON device_drift_events (tenant_id, detected_at, device_id, id)",
        ]),
    ]

    /// Applies every migration newer than the stored version (up to `through`: tests build a
    /// database as an older release left it). Runs in one transaction under a global advisory
    /// lock, so replicas starting together apply each migration once.
    static func apply(on backend: any DatabaseBackend, logger: Logger, through last: Int = .max) async throws -> [Int] {
        try await backend.write(lockKey: "palisade-migrations") { sql in
            try await sql.raw("""
                CREATE TABLE IF NOT EXISTS palisade_migrations (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at BIGINT NOT NULL
                )
                """).run()
            let applied = Set(try await sql.raw("SELECT version FROM palisade_migrations").all().map { try $0.decode(column: "version", as: Int.self) })
            var newlyApplied: [Int] = []
            for migration in all where !applied.contains(migration.version) && migration.version <= last {
                logger.info("applying migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                for statement in migration.statements {
                    try await sql.raw(SQLQueryString(statement)).run()
                }
                try await migration.backfill?(sql)
                try await sql.raw("INSERT INTO palisade_migrations (version, name, applied_at) VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: SystemWallClock().nowMillis))").run()
                newlyApplied.append(migration.version)
            }
            return newlyApplied
        }
    }
}

// MARK: - Migration 8's backfill (FROZEN)

extension Migrations {
    /// Migration 8's backfill: each device's per-policy states (`device_policy_targets.state`,
    /// `.setting_states`) and overall state (`devices.report_state`), derived from its stored
    /// configuration and last report. No history is written.
    ///
    /// FROZEN: this must never change. It is a copy, made when migration 8 was moved off live
    /// code, of what `PalisadeStore.backfillReportStates` did then (with `storeStates` without
    /// history, `StatusEvaluator.outcome` and `StoredSettingStates.encode`), so that a database
    /// at version 7 migrated by any later release ends exactly as it did with the release that
    /// introduced migration 8. Those live functions may change; this copy does not follow them,
    /// and calls nothing outside this file but SQLKit and Foundation. A new way of deriving the
    /// states is a new migration (or a recompute), never an edit here.
    /// `MigrationEightFromVersionSevenTests` checks the rows it writes from a version-7 file.
    ///
    /// Two things are read more directly than the live code read them, with the same result:
    /// - the stored configuration is decoded into the types below, which hold only what the
    ///   states need (policy ids and revisions, setting and conflict ids, the exclusion), not
    ///   `EffectiveConfiguration`, whose shape may change;
    /// - whether the report is about the current configuration compares it with
    ///   `device_configurations.configuration_hash`, which every server up to version 8 wrote as
    ///   the hash of that same stored document (`ComputedConfiguration.hash`), instead of hashing
    ///   the document again with code that may change.
    enum ReportStatesBackfill {
        /// Rows per statement (and devices per page, in the SELECT).
        static let batch = 500

        static func run(on sql: any SQLDatabase) async throws {
            var after = ""
            while true {
                let rows = try await sql.raw("""
                    SELECT c.device_id, c.tenant_id, c.configuration_hash, c.effective, r.configuration_hash AS reported_hash, r.results
                    FROM device_configurations c LEFT JOIN device_reports r ON r.device_id = c.device_id
                    WHERE c.device_id > \(bind: after) ORDER BY c.device_id LIMIT 500
                    """).all()
                guard let last = rows.last else { return }
                after = try last.decode(column: "device_id", as: String.self)
                var byTenant: [String: [Device]] = [:]
                for row in rows {
                    let deviceId = try row.decode(column: "device_id", as: String.self)
                    let configuration = try decodeJSON(Configuration.self, column: "effective", of: row, device: deviceId)
                    var reportedHash: String?
                    var results: [String: Result] = [:]
                    if let hash = try row.decode(column: "reported_hash", as: String?.self) {
                        reportedHash = hash
                        results = try decodeJSON([String: Result].self, column: "results", of: row, device: deviceId)
                        // A state no agent could report failed the live code's decoding: the same here.
                        if let unknown = results.values.first(where: { !reportable.contains($0.state) }) {
                            throw Failure(description: "migration 8: device \(deviceId): column results holds the unknown state \"\(unknown.state)\"")
                        }
                    }
                    let current = reportedHash == (try row.decode(column: "configuration_hash", as: String.self))
                    byTenant[try row.decode(column: "tenant_id", as: String.self), default: []].append(
                        Device(id: deviceId, outcome: outcome(of: configuration, results: results, current: current)))
                }
                for (tenant, devices) in byTenant {
                    try await store(devices, tenant: tenant, on: sql)
                }
            }
        }

        // MARK: The stored documents, as servers at version 7 wrote them

        /// `device_configurations.effective` (`EffectiveConfiguration`): what the states need.
        struct Configuration: Decodable {
            var platform: String
            var settings: [String: Sourced]
            var conflicts: [String: [Sourced]]
            var policies: [Reference]
            var exclusion: String?
        }

        /// A delivered setting or one competing value: its policies (the value is not needed).
        struct Sourced: Decodable {
            var policies: [Reference]
        }

        /// `PolicyReference`.
        struct Reference: Decodable {
            var id: String
            var name: String
            var revision: Int
            var groupIds: [String]
        }

        /// One value of `device_reports.results` (`DeviceProtocol.SettingResult`).
        struct Result: Decodable {
            var settingId: String
            var state: String
            var detail: String?
        }

        struct Failure: Error, CustomStringConvertible {
            var description: String
        }

        static func decodeJSON<T: Decodable>(_ type: T.Type, column: String, of row: any SQLRow, device: String) throws -> T {
            let text = try row.decode(column: column, as: String.self)
            do {
                return try JSONDecoder().decode(type, from: Data(text.utf8))
            } catch {
                throw Failure(description: "migration 8: device \(device): column \(column) cannot be read: \(error)")
            }
        }

        // MARK: The states (StatusEvaluator.outcome as of migration 8)

        /// The states as stored (`SettingState` raw values then).
        static let succeeded = "succeeded", error = "error", conflict = "conflict", pending = "pending", notApplicable = "notApplicable"
        /// What an agent could report (`DeviceProtocol.ReportedState`), each stored as itself.
        static let reportable: Set<String> = [succeeded, error, notApplicable, pending]
        static let stored: Set<String> = [succeeded, error, conflict, pending, notApplicable]

        struct Status {
            var settingId: String
            var state: String
            var policyIds: [String]
        }

        struct Target: Equatable {
            var revision: Int
            var state: String
            var settingStates: String
        }

        struct Device {
            var id: String
            var outcome: Outcome
        }

        struct Outcome {
            var state: String
            var policies: [String: Target]
        }

        static func outcome(of configuration: Configuration, results: [String: Result], current: Bool) -> Outcome {
            var statuses: [Status] = []
            for (id, setting) in configuration.settings {
                var state = pending
                if current, let result = results[id] { state = result.state }
                statuses.append(Status(settingId: id, state: state, policyIds: setting.policies.map(\.id)))
            }
            for (id, competing) in configuration.conflicts {
                statuses.append(Status(settingId: id, state: conflict, policyIds: competing.flatMap(\.policies).map(\.id)))
            }
            statuses.sort { $0.settingId < $1.settingId }

            var byPolicy: [String: [Status]] = [:]
            for status in statuses {
                for policy in Set(status.policyIds) { byPolicy[policy, default: []].append(status) }
            }
            var policies: [String: Target] = [:]
            for policy in configuration.policies {
                let own = byPolicy[policy.id] ?? []
                let settings = Dictionary(own.map { ($0.settingId, $0.state) }, uniquingKeysWith: { first, _ in first })
                policies[policy.id] = Target(revision: policy.revision, state: worstState(of: own, current: current), settingStates: encode(settings))
            }
            let overall = configuration.exclusion != nil ? notApplicable : worstState(of: statuses, current: current)
            return Outcome(state: overall, policies: policies)
        }

        /// Conflict, then error, then pending win; notApplicable when every setting is; with no
        /// settings at all, succeeded once the device reported on this configuration.
        static func worstState(of statuses: [Status], current: Bool) -> String {
            if statuses.isEmpty { return current ? succeeded : pending }
            let states = Set(statuses.map(\.state))
            for state in [conflict, error, pending] where states.contains(state) {
                return state
            }
            return states == [notApplicable] ? notApplicable : succeeded
        }

        /// `,<code><settingId>,...` sorted by id (`StoredSettingStates.encode` as of migration 8).
        static func encode(_ states: [String: String]) -> String {
            guard !states.isEmpty else { return "" }
            var text = ","
            for (id, state) in states.sorted(by: { $0.key < $1.key }) {
                text += code(state)
                text += escaped(id)
                text += ","
            }
            return text
        }

        static func code(_ state: String) -> String {
            switch state {
            case succeeded: "s"
            case error: "e"
            case conflict: "c"
            case notApplicable: "n"
            default: "p"  // pending, the only other state `outcome` gives
            }
        }

        /// Catalog ids hold no comma, but the keys of keyed settings in conflict (`id[key]`) may.
        static func escaped(_ id: String) -> String {
            guard id.contains(where: { $0 == "," || $0 == "%" }) else { return id }
            return id.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: ",", with: "%2C")
        }

        // MARK: Writing (storeStates without history, as of migration 8)

        /// Writes the targets and overall states that differ from the stored ones and deletes
        /// the targets of policies that no longer reach the device.
        static func store(_ devices: [Device], tenant: String, on sql: any SQLDatabase) async throws {
            let ids = devices.map(\.id)
            var storedTargets: [String: [String: Target]] = [:]
            for row in try await sql.raw("""
                SELECT device_id, policy_id, revision, state, setting_states FROM device_policy_targets WHERE device_id IN (\(binds: ids))
                """).all() {
                let state = try row.decode(column: "state", as: String.self)
                storedTargets[try row.decode(column: "device_id", as: String.self), default: [:]][try row.decode(column: "policy_id", as: String.self)] = Target(
                    revision: try row.decode(column: "revision", as: Int.self), state: stored.contains(state) ? state : pending,
                    settingStates: try row.decode(column: "setting_states", as: String.self))
            }
            var storedDeviceStates: [String: String] = [:]
            for row in try await sql.raw("SELECT id, report_state FROM devices WHERE id IN (\(binds: ids))").all() {
                storedDeviceStates[try row.decode(column: "id", as: String.self)] = try row.decode(column: "report_state", as: String.self)
            }

            var upserts: [(device: String, policy: String, target: Target)] = []
            var deletes: [(device: String, policy: String)] = []
            var deviceStates: [String: [String]] = [:]
            for device in devices {
                let old = storedTargets[device.id] ?? [:]
                for (policyId, target) in device.outcome.policies where old[policyId] != target {
                    upserts.append((device.id, policyId, target))
                }
                for policyId in old.keys where device.outcome.policies[policyId] == nil {
                    deletes.append((device.id, policyId))
                }
                if storedDeviceStates[device.id] != device.outcome.state {
                    deviceStates[device.outcome.state, default: []].append(device.id)
                }
            }

            for start in stride(from: 0, to: deletes.count, by: batch) {
                let rows = deletes[start..<min(start + batch, deletes.count)].map { "(\(bind: $0.policy), \(bind: $0.device))" as SQLQueryString }
                try await sql.raw(joined("DELETE FROM device_policy_targets WHERE (policy_id, device_id) IN (VALUES ", rows, ")")).run()
            }
            for start in stride(from: 0, to: upserts.count, by: batch) {
                let rows = upserts[start..<min(start + batch, upserts.count)].map {
                    "(\(bind: tenant), \(bind: $0.policy), \(bind: $0.device), \(bind: $0.target.revision), \(bind: $0.target.state), \(bind: $0.target.settingStates))" as SQLQueryString
                }
                try await sql.raw(joined(
                    "INSERT INTO device_policy_targets (tenant_id, policy_id, device_id, revision, state, setting_states) VALUES ", rows,
                    " ON CONFLICT (policy_id, device_id) DO UPDATE SET revision = excluded.revision, state = excluded.state, setting_states = excluded.setting_states")).run()
            }
            for (state, devices) in deviceStates {
                for start in stride(from: 0, to: devices.count, by: batch) {
                    let batchIds = Array(devices[start..<min(start + batch, devices.count)])
                    try await sql.raw("UPDATE devices SET report_state = \(bind: state) WHERE id IN (\(binds: batchIds))").run()
                }
            }
        }

        /// `prefix`, the rows separated by commas, `suffix`.
        static func joined(_ prefix: String, _ rows: [SQLQueryString], _ suffix: String = "") -> SQLQueryString {
            var query = SQLQueryString(prefix)
            for (index, row) in rows.enumerated() {
                if index > 0 { query += SQLQueryString(", ") }
                query += row
            }
            query += SQLQueryString(suffix)
            return query
        }
    }
}

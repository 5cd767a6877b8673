import PalisadeCore
import Logging
import SQLKit

/// Versioned schema migrations, applied in order at start in one write transaction under a global lock (both engines have transactional DDL).
/// The SQL is written once for both engines: TEXT, BIGINT, no engine-specific types.
enum Migrations {
    struct Migration {
        var version: Int
        var name: String
        var statements: [String]
        /// Runs after the statements, in the same transaction, for data SQL alone cannot derive.
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
        ], backfill: { sql in try await PalisadeStore.backfillReportStates(on: sql) }),
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

    /// Applies every migration newer than the stored version. Runs in one transaction under
    /// a global advisory lock, so replicas starting together apply each migration once.
    static func apply(on backend: any DatabaseBackend, logger: Logger) async throws -> [Int] {
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
            for migration in all where !applied.contains(migration.version) {
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

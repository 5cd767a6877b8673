import Foundation
import Logging
import PalisadeCore
import PalisadeServer
import SQLKit

/// The same operations as the engine benchmark, through the store: the directory engine, the
/// SQL write transaction, batched writes of memberships and configurations. The tenant's
/// devices, groups and policies are seeded with plain SQL (enrolling 100k agents one by one
/// is not what is being measured); everything after that goes through the store's API.
enum ServerBenchmark {
    static func run(_ tenant: SyntheticTenant, databaseURL: String?) async throws {
        var logger = Logger(label: "palisade.bench")
        logger.logLevel = .warning
        // BENCH_LOG=debug prints the store's phase timings (the database driver stays quiet).
        var storeLogger = logger
        storeLogger.logLevel = ProcessInfo.processInfo.environment["BENCH_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("palisade-bench-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let location: DatabaseLocation = databaseURL.map { .postgres(url: $0) } ?? .sqlite(path: directory + "/palisade.sqlite")
        let clock = ContinuousClock()
        let log = storeLogger

        try await Database.with(location, logger: logger) { backend in
            let store = PalisadeStore(backend: backend, logger: log)
            try await store.migrate()
            let tenantId = try await store.createTenant(name: "bench-\(UUID().uuidString.prefix(8))").tenant.id
            let bench = AuditActor.system("palisade-bench")
            let seedTime = try await clock.measure { try await seed(tenant, tenant: tenantId, on: backend) }

            // 1. Full recompute, first time: every dynamic membership and configuration is written.
            let first = try await store.directory.rebuild(tenant: tenantId)
            // 2. Full recompute again: everything compared, nothing to write.
            let second = try await store.directory.rebuild(tenant: tenantId)

            // 2b. Full recompute without reloading: a scope change recomputes every device.
            var windowsOff = EnforcementScope.everything
            windowsOff.platforms[.windows] = false
            let scopeOffTime = try await clock.measure { _ = try await TenantSettingsService(store: store).setEnforcement(tenant: tenantId, by: bench, windowsOff) }
            let scopeOnTime = try await clock.measure { _ = try await TenantSettingsService(store: store).setEnforcement(tenant: tenantId, by: bench, .everything) }

            // 3. A replica starting cold: its first change loads the whole tenant.
            let cold = PalisadeStore(backend: backend, logger: log)
            let coldTime = try await clock.measure {
                _ = try await DeviceService(store: cold).setTags(tenant: tenantId, by: bench, device: tenant.devices[0].id, tags: ["tag1"])
            }

            // 4. A rule change that moves about 10k devices.
            let target = tenant.includedDynamicGroup
            let groups = GroupService(store: store)
            let before = try await groups.group(tenant: tenantId, id: target).memberCount
            var after = 0
            let ruleTime = try await clock.measure {
                after = try await groups.update(tenant: tenantId, by: bench, id: target, name: nil, description: nil, membershipRule: SyntheticTenant.ruleChange).memberCount
            }

            // 5. One device's tag change, 300 times on random devices.
            var rng = SeededRandomNumberGenerator(seed: 7)
            var tagTimes: [Duration] = []
            for n in 0..<300 {
                let device = tenant.devices[Int.random(in: 0..<tenant.devices.count, using: &rng)]
                let tags = device.attributes.tags + ["tag\(n % 50)"]
                tagTimes.append(try await clock.measure { _ = try await DeviceService(store: store).setTags(tenant: tenantId, by: bench, device: device.id, tags: tags) })
            }

            // 6. Check-ins with nothing new: hash lookup and last-seen update (what a long-poll
            // costs the store). The first of the day also re-evaluates rules on lastCheckInAt.
            let checkingIn = (0..<300).map { _ in tenant.devices[Int.random(in: 0..<tenant.devices.count, using: &rng)].id }
            var firstOfDayTimes: [Duration] = []
            var checkInTimes: [Duration] = []
            for round in 0..<2 {
                for device in checkingIn {
                    let time = try await clock.measure {
                        let hash = try await DeviceProtocolService(store: store).configurationHash(deviceId: device, tenant: tenantId)
                        try await DeviceProtocolService(store: store).recordCheckIn(deviceId: device, tenant: tenantId, inventory: nil, deliveredHash: hash)
                    }
                    if round == 0 { firstOfDayTimes.append(time) } else { checkInTimes.append(time) }
                }
            }

            // Correctness: what is stored equals a fresh load of the tenant.
            var drift: [String] = []
            let driftTime = try await clock.measure { drift = try await store.directory.drift(tenant: tenantId) }

            let (targetRows, historyRows) = try await backend.read { sql in
                (try await sql.raw("SELECT COUNT(*) AS n FROM device_policy_targets").first()?.decode(column: "n", as: Int.self) ?? 0,
                 try await sql.raw("SELECT COUNT(*) AS n FROM device_history").first()?.decode(column: "n", as: Int.self) ?? 0)
            }
            print("""
                server (\(backend.kind.rawValue)): \(tenant.devices.count) devices, \(tenant.groups.count) groups (\(tenant.groups.count / 2) dynamic), \(tenant.policies.count) policies; seeded in \(milliseconds(seedTime))
                full recompute, first:   \(milliseconds(first.duration)) (directory loaded from the database, \(tenant.devices.count) configurations written)
                full recompute, again:   \(milliseconds(second.duration)) (reloaded from the database, every stored document read back and compared, nothing written)
                scope change, all devices: \(milliseconds(scopeOffTime)) (Windows switched off: 40% of configurations rewritten), \(milliseconds(scopeOnTime)) (back on)
                cold replica, 1st change: \(milliseconds(coldTime)) (loads the tenant's directory)
                rule change:             \(milliseconds(ruleTime)) (group of \(before) devices now holds \(after))
                tag change, one device:  \(percentiles(tagTimes))
                check-in, first of day:  \(percentiles(firstOfDayTimes))
                check-in, nothing new:   \(percentiles(checkInTimes))
                drift check:             \(milliseconds(driftTime)), \(drift.count) devices differ from a fresh load
                stored report states:    \(targetRows) (device, policy) rows; \(historyRows) device history events written by all of the above
                """)
            if !drift.isEmpty { throw BenchmarkFailure(message: "stored configurations differ from a fresh load: \(drift.prefix(5))") }
            try await RevisionsSyncBenchmark.run(store: store, tenant: tenantId, tenant: tenant)
        }
    }

    struct BenchmarkFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Plain multi-row inserts, 500 rows a statement.
    static func seed(_ tenant: SyntheticTenant, tenant id: String, on backend: any DatabaseBackend) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        @Sendable func insert(_ prefix: String, _ rows: [SQLQueryString], on sql: any SQLDatabase) async throws {
            for start in stride(from: 0, to: rows.count, by: 500) {
                try await sql.raw(.insert(prefix, rows: Array(rows[start..<min(rows.count, start + 500)]))).run()
            }
        }
        try await backend.write(lockKey: "tenant:\(id)") { sql in
            try await insert("""
                INSERT INTO devices (id, tenant_id, name, platform, os_version, hardware_id, agent_version, managed_by, mdm_enrolled,
                    defender_installed, enrollment_status, public_key, tags, agent_tags, enrolled_at, last_check_in_at, retired_at) VALUES
                """, tenant.devices.map { device in
                    // Admin tags: the synthetic rules read device.tags.
                    let tags = "[" + device.attributes.tags.map { "\"\($0)\"" }.joined(separator: ",") + "]"
                    return """
                        (\(bind: device.id), \(bind: id), \(bind: device.attributes.name), \(bind: device.platform.rawValue), \(bind: device.attributes.osVersion),
                        \(bind: "hw-" + device.id), \(bind: device.attributes.agentVersion), 'palisade', 0, 1, 'enrolled', 'bench', \(bind: tags), '[]', \(bind: now), NULL, NULL)
                        """
                }, on: sql)
            try await insert("INSERT INTO device_groups (id, tenant_id, name, description, created_at, membership_rule) VALUES ",
                             tenant.groups.map { "(\(bind: $0.id), \(bind: id), \(bind: $0.id), '', \(bind: now), \(bind: $0.rule))" }, on: sql)
            var members: [SQLQueryString] = []
            var nesting: [SQLQueryString] = []
            for group in tenant.groups {
                guard case .members(let devices, let nested) = group.group else { continue }
                members += devices.sorted().map { "(\(bind: id), \(bind: group.id), \(bind: $0), \(bind: now))" }
                nesting += nested.sorted().map { "(\(bind: id), \(bind: group.id), \(bind: $0))" }
            }
            try await insert("INSERT INTO group_members (tenant_id, group_id, device_id, added_at) VALUES ", members, on: sql)
            try await insert("INSERT INTO group_nesting (tenant_id, parent_id, child_id) VALUES ", nesting, on: sql)
            try await insert("INSERT INTO policies (id, tenant_id, name, description, platform, template, revision, settings, created_at, updated_at) VALUES ",
                             try tenant.policies.map { policy in
                                 let settings = try CanonicalJSON.string(policy.policy.settings)
                                 return "(\(bind: policy.policy.id), \(bind: id), \(bind: policy.policy.name), '', \(bind: policy.policy.platform.rawValue), 'antivirus', 1, \(bind: settings), \(bind: now), \(bind: now))"
                             }, on: sql)
            try await insert("INSERT INTO policy_assignments (tenant_id, policy_id, group_id, mode) VALUES ", tenant.policies.flatMap { policy in
                policy.includeGroups.sorted().map { "(\(bind: id), \(bind: policy.policy.id), \(bind: $0), 'include')" as SQLQueryString }
                    + policy.excludeGroups.sorted().map { "(\(bind: id), \(bind: policy.policy.id), \(bind: $0), 'exclude')" as SQLQueryString }
            }, on: sql)
        }
    }
}

import Foundation
import Logging
@testable import PalisadeServer
import SQLKit
import Testing

/// Migration 8 is frozen (`Migrations.ReportStatesBackfill`): a SQLite file left at version 7
/// by an older release, with configurations and reports as servers then stored them, is
/// migrated by this release, and the per-policy, per-setting and per-device states it backfills
/// are exactly the rows listed here (worked out by hand from the rules of migration 8, and the
/// same rows the live code wrote when migration 8 still called it).
@Suite struct MigrationEightFromVersionSevenTests {
    /// Policy ids and their names and revisions, as the stored documents reference them.
    static let policies: [String: (name: String, revision: Int)] = [
        "pol-av": ("AV", 3), "pol-edr": ("EDR", 1), "pol-fw": ("Firewall", 2), "pol-t2": ("Other tenant", 5),
    ]

    /// Devices beyond the first page of the backfill (it reads 500 devices at a time).
    static let bulkDevices = 520

    @Test func aVersionSevenFileGetsTheStatesMigrationEightAlwaysDerived() async throws {
        let directory = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/palisade.sqlite"

        // An older release's database: migrations 1 to 7, then its data.
        try await Database.with(.sqlite(path: path), logger: TestServer.logger) { backend in
            #expect(try await Migrations.apply(on: backend, logger: TestServer.logger, through: 7) == Array(1...7))
            try await backend.write(lockKey: "test") { sql in try await Self.insertVersionSevenData(on: sql) }
        }

        // This release opens the file and migrates it.
        let (targets, deviceStates, history, bulk) = try await Database.with(.sqlite(path: path), logger: TestServer.logger) { backend in
            let applied = try await PalisadeStore(backend: backend, logger: TestServer.logger).migrate()
            #expect(applied == Migrations.all.map(\.version).filter { $0 > 7 })
            return try await backend.read { sql in
                let targets = try await sql.raw("""
                    SELECT tenant_id, device_id, policy_id, revision, state, setting_states FROM device_policy_targets
                    WHERE device_id NOT LIKE 'dev-bulk-%' ORDER BY device_id, policy_id
                    """).all().map { row in
                    [try row.decode(column: "tenant_id", as: String.self), try row.decode(column: "device_id", as: String.self),
                     try row.decode(column: "policy_id", as: String.self), String(try row.decode(column: "revision", as: Int.self)),
                     try row.decode(column: "state", as: String.self), try row.decode(column: "setting_states", as: String.self)]
                }
                var deviceStates: [String: String] = [:]
                for row in try await sql.raw("SELECT id, report_state FROM devices WHERE id NOT LIKE 'dev-bulk-%'").all() {
                    deviceStates[try row.decode(column: "id", as: String.self)] = try row.decode(column: "report_state", as: String.self)
                }
                let history = try await sql.raw("SELECT COUNT(*) AS n FROM device_history").first()?.decode(column: "n", as: Int.self)
                let bulk = try await sql.raw("""
                    SELECT COUNT(*) AS n FROM device_policy_targets t JOIN devices d ON d.id = t.device_id
                    WHERE t.device_id LIKE 'dev-bulk-%' AND t.state = 'succeeded' AND t.setting_states = ',scloudService.enabled,' AND d.report_state = 'succeeded'
                    """).first()?.decode(column: "n", as: Int.self)
                return (targets, deviceStates, history, bulk)
            }
        }

        #expect(targets == [
            // Every setting reported succeeded on the current configuration.
            ["t1", "dev-a", "pol-av", "3", "succeeded", ",santivirusEngine.passiveMode,scloudService.enabled,"],
            // One setting in error: its policy is in error, the other policy succeeded.
            ["t1", "dev-b", "pol-av", "3", "error", ",ecloudService.enabled,"],
            ["t1", "dev-b", "pol-edr", "1", "succeeded", ",sedr.blockMode,"],
            // The report is about an older configuration: everything pending, whatever it says.
            ["t1", "dev-c", "pol-av", "3", "pending", ",pantivirusEngine.passiveMode,pcloudService.enabled,"],
            // No report yet: pending; the target of a policy that no longer reaches it is gone.
            ["t1", "dev-d", "pol-av", "3", "pending", ",pcloudService.enabled,"],
            // A conflict (a keyed setting whose id holds a comma and a percent sign, escaped),
            // and a policy that contributes no setting: succeeded, with no setting states.
            ["t1", "dev-e", "pol-av", "3", "conflict", ",scloudService.enabled,ck[a%2C50%25],"],
            ["t1", "dev-e", "pol-edr", "1", "conflict", ",ck[a%2C50%25],"],
            ["t1", "dev-e", "pol-fw", "2", "succeeded", ""],
            // dev-f is excluded (out of scope): no targets left.
            // Every setting not applicable.
            ["t1", "dev-g", "pol-av", "3", "notApplicable", ",ncloudService.enabled,"],
            // Another tenant; the agent's own pending beats succeeded.
            ["t2", "dev-h", "pol-t2", "5", "pending", ",ss8,ps9,"],
            // No stored configuration: left as it was.
            ["t1", "dev-i", "pol-av", "1", "pending", ""],
        ])
        #expect(deviceStates == [
            "dev-a": "succeeded", "dev-b": "error", "dev-c": "pending", "dev-d": "pending", "dev-e": "conflict",
            "dev-f": "notApplicable", "dev-g": "notApplicable", "dev-h": "pending", "dev-i": "pending",
        ])
        #expect(history == 0, "a backfill invents no history")
        #expect(bulk == Self.bulkDevices, "devices past the first page of 500 are backfilled too")
    }

    // MARK: Version-7 data, written as servers at version 7 wrote it

    static func insertVersionSevenData(on sql: any SQLDatabase) async throws {
        for tenant in ["t1", "t2"] {
            try await sql.raw("INSERT INTO tenants (id, name, created_at) VALUES (\(bind: tenant), \(bind: "tenant " + tenant), 0)").run()
        }
        for (id, policy) in policies {
            try await sql.raw("""
                INSERT INTO policies (id, tenant_id, name, description, platform, template, revision, settings, created_at, updated_at)
                VALUES (\(bind: id), \(bind: id == "pol-t2" ? "t2" : "t1"), \(bind: policy.name), '', 'linux', 'antivirus', \(bind: policy.revision), '{}', 0, 0)
                """).run()
        }
        try await insertDevices(try devicesAtVersionSeven(), on: sql)
    }

    static func insertDevices(_ devices: [Device], on sql: any SQLDatabase) async throws {
        for device in devices {
            try await sql.raw("""
                INSERT INTO devices (id, tenant_id, name, platform, os_version, hardware_id, agent_version, managed_by, mdm_enrolled,
                                     enrollment_status, public_key, tags, enrolled_at)
                VALUES (\(bind: device.id), \(bind: device.tenant), \(bind: device.id), 'linux', '6.1', \(bind: "hw-" + device.id), '1.0.0', 'palisade', 0,
                        'enrolled', 'key', '[]', 0)
                """).run()
            if let effective = device.effective {
                try await sql.raw("""
                    INSERT INTO device_configurations (device_id, tenant_id, configuration_hash, effective, computed_at)
                    VALUES (\(bind: device.id), \(bind: device.tenant), \(bind: device.hash), \(bind: effective), 0)
                    """).run()
            }
            if let report = device.report {
                try await sql.raw("""
                    INSERT INTO device_reports (device_id, tenant_id, configuration_hash, results, reported_at)
                    VALUES (\(bind: device.id), \(bind: device.tenant), \(bind: report.hash), \(bind: report.results), 0)
                    """).run()
            }
            // Version 7 kept which policies reach each device, at which revision.
            for (policy, revision) in device.targets {
                try await sql.raw("""
                    INSERT INTO device_policy_targets (tenant_id, policy_id, device_id, revision)
                    VALUES (\(bind: device.tenant), \(bind: policy), \(bind: device.id), \(bind: revision))
                    """).run()
            }
        }
    }

    struct Device {
        var id: String
        var tenant = "t1"
        /// `device_configurations.configuration_hash`. A stand-in: migration 8 compares the
        /// report's hash with this column, never with a hash of the document.
        var hash: String
        /// `device_configurations.effective`; nil: no stored configuration.
        var effective: String?
        var report: (hash: String, results: String)?
        var targets: [(String, Int)] = []
    }

    static func devicesAtVersionSeven() throws -> [Device] {
        let av = ["pol-av"]
        var devices = [
            Device(id: "dev-a", hash: "sha256:a",
                   effective: try effective(settings: ["cloudService.enabled": av, "antivirusEngine.passiveMode": av], policies: av),
                   report: ("sha256:a", try results(["cloudService.enabled": "succeeded", "antivirusEngine.passiveMode": "succeeded"])),
                   targets: [("pol-av", 3)]),
            Device(id: "dev-b", hash: "sha256:b",
                   effective: try effective(settings: ["cloudService.enabled": av, "edr.blockMode": ["pol-edr"]], policies: ["pol-av", "pol-edr"]),
                   report: ("sha256:b", try results(["cloudService.enabled": "error", "edr.blockMode": "succeeded"])),
                   targets: [("pol-av", 2), ("pol-edr", 1)]),
            Device(id: "dev-c", hash: "sha256:c",
                   effective: try effective(settings: ["cloudService.enabled": av, "antivirusEngine.passiveMode": av], policies: av),
                   report: ("sha256:older", try results(["cloudService.enabled": "succeeded", "antivirusEngine.passiveMode": "succeeded"]))),
            Device(id: "dev-d", hash: "sha256:d",
                   effective: try effective(settings: ["cloudService.enabled": av], policies: av),
                   targets: [("pol-av", 3), ("pol-gone", 4)]),
            Device(id: "dev-e", hash: "sha256:e",
                   effective: try effective(settings: ["cloudService.enabled": av], conflicts: ["k[a,50%]": [av, ["pol-edr"]]], policies: ["pol-av", "pol-edr", "pol-fw"]),
                   report: ("sha256:e", try results(["cloudService.enabled": "succeeded"]))),
            Device(id: "dev-f", hash: "sha256:f",
                   effective: try effective(settings: [:], policies: [], exclusion: "the device is out of the enforcement scope"),
                   report: ("sha256:f", try results([:])),
                   targets: [("pol-av", 3)]),
            Device(id: "dev-g", hash: "sha256:g",
                   effective: try effective(settings: ["cloudService.enabled": av], policies: av),
                   report: ("sha256:g", try results(["cloudService.enabled": "notApplicable"]))),
            Device(id: "dev-h", tenant: "t2", hash: "sha256:h",
                   effective: try effective(settings: ["s8": ["pol-t2"], "s9": ["pol-t2"]], policies: ["pol-t2"]),
                   report: ("sha256:h", try results(["s8": "succeeded", "s9": "pending"]))),
            Device(id: "dev-i", hash: "sha256:i", effective: nil, targets: [("pol-av", 1)]),
        ]
        let bulkConfiguration = try effective(settings: ["cloudService.enabled": av], policies: av)
        let bulkReport = try results(["cloudService.enabled": "succeeded"])
        for index in 0..<bulkDevices {
            devices.append(Device(id: String(format: "dev-bulk-%04d", index), hash: "sha256:bulk", effective: bulkConfiguration,
                                  report: ("sha256:bulk", bulkReport), targets: [("pol-av", 3)]))
        }
        return devices
    }

    /// An `EffectiveConfiguration` document as version 7 stored it (sorted keys, every value
    /// `true`: values play no part in the states).
    static func effective(settings: [String: [String]], conflicts: [String: [[String]]] = [:], policies: [String], exclusion: String? = nil) throws -> String {
        func references(_ ids: [String]) -> [[String: Any]] {
            ids.map { id in ["id": id, "name": Self.policies[id]?.name ?? id, "revision": Self.policies[id]?.revision ?? 1, "groupIds": ["group-1"]] }
        }
        var document: [String: Any] = [
            "platform": "linux",
            "settings": settings.mapValues { ["policies": references($0), "value": true] as [String: Any] },
            "conflicts": conflicts.mapValues { $0.map { ["policies": references($0), "value": true] as [String: Any] } },
            "policies": references(policies),
        ]
        if let exclusion { document["exclusion"] = exclusion }
        return String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]), as: UTF8.self)
    }

    /// `device_reports.results`: setting id -> `SettingResult`.
    static func results(_ states: [String: String]) throws -> String {
        let document = Dictionary(uniqueKeysWithValues: states.map { id, state in
            (id, ["settingId": id, "state": state, "detail": state == "error" ? "refused by Defender" : nil].compactMapValues { $0 })
        })
        return String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]), as: UTF8.self)
    }
}

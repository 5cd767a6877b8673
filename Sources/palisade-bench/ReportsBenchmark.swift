import Foundation
import Logging
import NIOCore
import PalisadeCore
import PalisadeServer
import SQLKit

/// Issue 10's report targets on a 100k-device tenant with one 50-setting policy on every
/// device (and a smaller second policy), on a SQLite file. Devices, targets with their stored
/// states, reports and history-free state columns are seeded with plain SQL through the
/// server's schema (migrations) and its state encoding (`StoredSettingStates`); everything
/// measured goes through `PalisadeStore` and the export writer the route uses.
enum ReportsBenchmark {
    static func run(devices deviceCount: Int, databaseURL: String?) async throws {
        var logger = Logger(label: "palisade.bench")
        logger.logLevel = .warning
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("palisade-bench-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let location: DatabaseLocation = databaseURL.map { .postgres(url: $0) } ?? .sqlite(path: directory + "/palisade.sqlite")
        let clock = ContinuousClock()
        let log = logger

        try await Database.with(location, logger: logger) { backend in
            let store = PalisadeStore(backend: backend, logger: log)
            try await store.migrate()
            let tenant = try await store.createTenant(name: "bench-\(UUID().uuidString.prefix(8))").tenant.id
            let settings = Array(SettingCatalog.standard.definitions(platform: .windows).map(\.id).sorted().prefix(50))
            guard settings.count == 50 else { throw ServerBenchmark.BenchmarkFailure(message: "the catalog has \(settings.count) Windows settings, 50 needed") }
            let seedTime = try await clock.measure { try await seed(devices: deviceCount, settings: settings, tenant: tenant, on: backend) }
            // PostgreSQL's autovacuum analyzes tables after a bulk load like this one within a
            // minute; until then its planner has no statistics. SQLite has no automatic ANALYZE
            // and the server runs none: it is measured without statistics.
            if backend.kind == .postgres { try await backend.write(lockKey: "bench") { sql in try await sql.raw("ANALYZE").run() } }

            // Policy report: summary (GROUP BY over stored states) and the first page of devices.
            var summary = PolicyReport.Summary()
            let summaryTimes = try await repeated(20) {
                summary = try await store.policyReport(tenant: tenant, policy: "policy-big", limit: 100).summary
            }
            let reportErrorTimes = try await repeated(20) { _ = try await store.policyReport(tenant: tenant, policy: "policy-big", state: .error, limit: 100) }
            let reportSearchTimes = try await repeated(20) { _ = try await store.policyReport(tenant: tenant, policy: "policy-big", search: "st-0421", limit: 100) }

            // Device list, first page with a filter.
            var errorDevices = 0
            let listStateTimes = try await repeated(20) {
                errorDevices = try await store.devices(tenant: tenant, filter: DeviceFilter(state: .error), limit: 100, after: nil).items.count
            }
            let listPlatformTimes = try await repeated(20) { _ = try await store.devices(tenant: tenant, filter: DeviceFilter(platform: .macos), limit: 100, after: nil) }
            let listSearchTimes = try await repeated(20) { _ = try await store.devices(tenant: tenant, filter: DeviceFilter(search: "ST-0999"), limit: 100, after: nil) }
            let listTagTimes = try await repeated(20) { _ = try await store.devices(tenant: tenant, filter: DeviceFilter(tag: "rack-7"), limit: 100, after: nil) }
            let listRareTimes = try await repeated(5) {
                _ = try await store.devices(tenant: tenant, filter: DeviceFilter(search: "no-such-name"), limit: 100, after: nil)
            }

            // Per-setting report: a scan of the stored per-setting states.
            var settingsReport: PolicySettingsReport?
            let settingsTimes = try await repeated(5) { settingsReport = try await store.policySettingsReport(tenant: tenant, policy: "policy-big") }
            let settingDevicesTimes = try await repeated(10) {
                _ = try await store.policySettingDevices(tenant: tenant, policy: "policy-big", setting: settings[7], state: .error, limit: 100)
            }
            let overviewTimes = try await repeated(5) { _ = try await store.tenantOverview(tenant: tenant) }

            // CSV export of every row, through the route's writer into a counting sink.
            var exports: [(rows: Int, bytes: Int, time: Duration, rssBefore: Int, rssPeak: Int, rssAfter: Int)] = []
            for _ in 0..<3 {
                let rssBefore = residentKiB()
                var rssPeak = rssBefore
                var rows = 0
                var bytes = 0
                let time = try await clock.measure {
                    let first = try await store.policyReportDevices(tenant: tenant, policy: "policy-big", limit: 1000)
                    try await ReportExport.write(.csv, columns: ReportExport.policyDeviceColumns, cells: ReportExport.policyDeviceCells, first: first, page: { cursor in
                        try await store.policyReportDevices(tenant: tenant, policy: "policy-big", limit: 1000, after: cursor)
                    }, to: { buffer in
                        bytes += buffer.readableBytes
                        rows += buffer.readableBytesView.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
                        rssPeak = max(rssPeak, residentKiB())
                    })
                }
                exports.append((rows - 1, bytes, time, rssBefore, rssPeak, residentKiB()))
            }

            let total = summary.succeeded + summary.error + summary.conflict + summary.pending + summary.notApplicable
            let exportLines = exports.map { export in
                let seconds = Double(export.time.components.seconds) + Double(export.time.components.attoseconds) / 1e18
                return "\(export.rows) rows, \(export.bytes / 1024) KiB in \(milliseconds(export.time)): \(Int(Double(export.rows) / seconds)) rows/s; "
                    + "RSS \(export.rssBefore / 1024) MiB before, \(export.rssPeak / 1024) MiB peak, \(export.rssAfter / 1024) MiB after"
            }
            let firstSetting = settingsReport?.settings.first
            print("""
                reports (\(backend.kind.rawValue)): \(deviceCount) devices, a 50-setting policy on all of them, a 5-setting policy on half; seeded in \(milliseconds(seedTime))
                policy summary + first page:   \(percentiles(summaryTimes)) (\(total) devices: \(summary.succeeded) succeeded, \(summary.error) error, \(summary.conflict) conflict, \(summary.pending) pending, \(summary.notApplicable) notApplicable)
                policy report, state=error:    \(percentiles(reportErrorTimes))
                policy report, search:         \(percentiles(reportSearchTimes))
                device list, state=error:      \(percentiles(listStateTimes)) (\(errorDevices) on the page)
                device list, platform=macos:   \(percentiles(listPlatformTimes))
                device list, search (name):    \(percentiles(listSearchTimes))
                device list, tag:              \(percentiles(listTagTimes))
                device list, search, no match: \(percentiles(listRareTimes)) (scans the tenant)
                settings report (50 settings): \(percentiles(settingsTimes)) (first: \(firstSetting?.settingId ?? "-") \(firstSetting.map { "\($0.summary.succeeded) succeeded, \($0.summary.error) error" } ?? ""))
                setting devices, state=error:  \(percentiles(settingDevicesTimes))
                tenant overview:               \(percentiles(overviewTimes))
                CSV export, every row:
                """ + exportLines.map { "  " + $0 }.joined(separator: "\n"))
        }
    }

    static func repeated(_ count: Int, _ body: () async throws -> Void) async throws -> [Duration] {
        let clock = ContinuousClock()
        var times: [Duration] = []
        for _ in 0..<count { times.append(try await clock.measure { try await body() }) }
        return times
    }

    /// VmRSS of this process in KiB (Linux).
    static func residentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// 90 % of devices succeeded, 4 % error (one setting), 2 % conflict, 3 % pending, 1 %
    /// notApplicable; names host-NNNNNN; a quarter tagged rack-N.
    static func seed(devices count: Int, settings: [String], tenant: String, on backend: any DatabaseBackend) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let platforms: [DevicePlatform] = [.linux, .linux, .windows, .windows, .macos]
        @Sendable func state(_ n: Int) -> SettingState {
            switch n % 100 {
            case 0..<4: .error
            case 4..<6: .conflict
            case 6..<9: .pending
            case 9: .notApplicable
            default: .succeeded
            }
        }
        func settingStates(_ policyState: SettingState, _ settings: [String]) -> String {
            var states: [String: SettingState] = [:]
            for (index, setting) in settings.enumerated() {
                states[setting] = switch policyState {
                case .error, .conflict: index == 7 ? policyState : .succeeded
                case .notApplicable: .notApplicable
                default: policyState
                }
            }
            return StoredSettingStates.encode(states)
        }
        let bigSettings = try CanonicalJSON.string(Dictionary(uniqueKeysWithValues: settings.map { ($0, JSONValue.bool(true)) }))
        let smallSettings = try CanonicalJSON.string(Dictionary(uniqueKeysWithValues: settings.prefix(5).map { ($0, JSONValue.bool(true)) }))
        let bigStates = Dictionary(uniqueKeysWithValues: SettingState.allCases.map { ($0, settingStates($0, settings)) })
        let smallStates = settingStates(.succeeded, Array(settings.prefix(5)))
        try await backend.write(lockKey: "tenant:\(tenant)") { sql in
            try await sql.raw("""
                INSERT INTO policies (id, tenant_id, name, description, platform, template, revision, settings, created_at, updated_at) VALUES
                ('policy-big', \(bind: tenant), 'Big', '', 'windows', 'antivirus', 3, \(bind: bigSettings), \(bind: now), \(bind: now)),
                ('policy-small', \(bind: tenant), 'Small', '', 'windows', 'antivirus', 1, \(bind: smallSettings), \(bind: now), \(bind: now))
                """).run()
            for start in stride(from: 0, to: count, by: 500) {
                let range = start..<min(count, start + 500)
                try await sql.raw(.insert("""
                    INSERT INTO devices (id, tenant_id, name, platform, os_version, hardware_id, agent_version, managed_by, mdm_enrolled,
                        defender_installed, enrollment_status, public_key, tags, agent_tags, enrolled_at, last_check_in_at, retired_at, report_state) VALUES
                    """, rows: range.map { n in
                        let id = String(format: "dev-%06d", n)
                        let tags = n % 4 == 0 ? "[\"rack-\(n % 10)\"]" : "[]"
                        let lastSeen = n % 50 == 0 ? now - 40 * 86_400_000 : now
                        return """
                            (\(bind: id), \(bind: tenant), \(bind: String(format: "host-%06d", n)), \(bind: platforms[n % platforms.count].rawValue), '1',
                            \(bind: "hw-" + id), '1.0', 'palisade', 0, 1, 'enrolled', 'bench', \(bind: tags), '[]', \(bind: now), \(bind: lastSeen), NULL, \(bind: state(n).rawValue))
                            """
                    })).run()
                try await sql.raw(.insert("INSERT INTO device_reports (device_id, tenant_id, configuration_hash, results, detail, reported_at) VALUES ",
                                          rows: range.map { n in "(\(bind: String(format: "dev-%06d", n)), \(bind: tenant), 'h', '{}', NULL, \(bind: now))" })).run()
                try await sql.raw(.insert("INSERT INTO device_policy_targets (tenant_id, policy_id, device_id, revision, state, setting_states) VALUES ",
                                          rows: range.map { n in
                                              "(\(bind: tenant), 'policy-big', \(bind: String(format: "dev-%06d", n)), 3, \(bind: state(n).rawValue), \(bind: bigStates[state(n)]!))"
                                          })).run()
                let half = range.filter { $0 % 2 == 0 }
                try await sql.raw(.insert("INSERT INTO device_policy_targets (tenant_id, policy_id, device_id, revision, state, setting_states) VALUES ",
                                          rows: half.map { n in
                                              "(\(bind: tenant), 'policy-small', \(bind: String(format: "dev-%06d", n)), 1, 'succeeded', \(bind: smallStates))"
                                          })).run()
            }
        }
    }
}

import Foundation
import PalisadeCore
import PalisadeServer

/// Revisions, sync now and the enrollment report on the seeded tenant, through the store.
enum RevisionsSyncBenchmark {
    static func run(store: PalisadeStore, tenant id: String, tenant: SyntheticTenant) async throws {
        let clock = ContinuousClock()
        let bench = AuditActor.system("palisade-bench")
        let policies = PolicyService(store: store)
        let groups = GroupService(store: store)
        let group = tenant.includedDynamicGroup
        let members = try await groups.group(tenant: id, id: group).memberCount

        // A policy on a group of thousands: update it, then roll it back (the update path:
        // every member recomputed and written).
        let created = try await policies.create(tenant: id, by: bench, .init(name: "bench AV", description: "", platform: .linux, template: .antivirus,
                                                                                 settings: ["cloudService.enabled": true]))
        _ = try await policies.setAssignments(tenant: id, by: bench, policy: created.id, include: [group], exclude: [])
        _ = try await policies.update(tenant: id, by: bench, id: created.id, .init(name: "bench AV", description: "", platform: .linux, template: .antivirus,
                                                                                     settings: ["cloudService.enabled": false]))
        let previewTime = try await clock.measure { _ = try await policies.previewRollback(tenant: id, policy: created.id, to: 1) }
        let rollbackTime = try await clock.measure { _ = try await policies.rollback(tenant: id, by: bench, policy: created.id, to: 1) }
        let revisionsTime = try await clock.measure { _ = try await policies.revisions(tenant: id, policy: created.id) }
        let diffTime = try await clock.measure { _ = try await policies.diff(tenant: id, policy: created.id, revision: 3, against: 2) }

        // Sync now: one device, then the whole group.
        var deviceSyncTimes: [Duration] = []
        for device in tenant.devices.prefix(100) {
            deviceSyncTimes.append(try await clock.measure { _ = try await store.requestSync(tenant: id, by: bench, device: device.id) })
        }
        var asked = 0
        let groupSyncTime = try await clock.measure { asked = try await store.requestSync(tenant: id, by: bench, group: group).devices }

        // The enrollment report: the first page (its summary reads every device), then the
        // whole report in the CSV export's batches, with the process's peak memory around it.
        let firstPageTime = try await clock.measure { _ = try await store.enrollmentReport(tenant: id, limit: 100) }
        let peakBefore = peakResidentKilobytes()
        var rows = 0
        var bytes = 0
        let exportTime = try await clock.measure {
            var after = ""
            while true {
                let batch = try await store.enrollmentReportBatch(tenant: id, after: after)
                rows += batch.rows.count
                for row in batch.rows { bytes += "\(row.deviceId),\(row.deviceName),\(row.platform.rawValue),\(row.state.rawValue),\(row.reason)\r\n".utf8.count }
                guard let last = batch.last else { break }
                after = last
            }
        }
        let peakAfter = peakResidentKilobytes()
        let seconds = Double(exportTime.components.seconds) + Double(exportTime.components.attoseconds) / 1e18
        print("""
            rollback preview:        \(milliseconds(previewTime)) (policy on a group of \(members) devices)
            rollback:                \(milliseconds(rollbackTime)) (new revision, \(members) devices recomputed)
            revisions list, diff:    \(milliseconds(revisionsTime)), \(milliseconds(diffTime))
            sync now, one device:    \(percentiles(deviceSyncTimes))
            sync now, group:         \(milliseconds(groupSyncTime)) (\(asked) devices asked)
            enrollment report page:  \(milliseconds(firstPageTime)) (summary over \(tenant.devices.count) devices, first 100)
            enrollment export:       \(rows) rows (\(bytes / 1024) KiB of CSV text) in \(milliseconds(exportTime)), \(Int(Double(rows) / seconds)) rows/s; peak RSS \(peakBefore) -> \(peakAfter) KiB
            """)
    }

    /// VmHWM from /proc/self/status (Linux), 0 elsewhere.
    static func peakResidentKilobytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

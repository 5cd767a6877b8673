import Foundation
import PalisadeCore
@testable import PalisadeServer
import SQLKit
import Testing

/// Group commit of per-device writes (issue 12): on SQLite, status reports and delivered
/// configurations arriving together share transactions, and each is still stored and answered
/// on its own (on PostgreSQL each is its own transaction, and the same holds).
@Suite struct DeviceWriteBatchingTests {
    /// Enrolled agents in one group with one policy, each having applied and reported it once.
    static func fleet(_ server: TestServer, size: Int) async throws -> (agents: [TestAgent], policy: String) {
        let token = try await server.createEnrollmentToken(maxUses: size)
        var agents: [TestAgent] = []
        for index in 0..<size { agents.append(try await TestAgent.enroll(server, name: "device-\(index)", token: token)) }
        let group = try await server.createGroup("fleet", members: agents.map(\.deviceId))
        let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
        try await server.assign(policy, include: [group])
        for agent in agents { try await agent.sync() }
        return (agents, policy)
    }

    @Test(arguments: StoreEngine.available)
    func reportsArrivingTogetherShareCommitsAndEachIsStored(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let size = 24
            let (agents, policy) = try await Self.fleet(server, size: size)
            try await server.must(.PUT, "/api/v1/policies/\(policy)", [
                "name": "AV", "platform": "linux", "template": "antivirus",
                "settings": ["cloudService.enabled": true, "cloudService.cloudBlockLevel": "high"],
            ])
            let store = server.store
            let tenant = try #require(try await store.deviceCredentials(deviceId: agents[0].deviceId)).tenantId
            var reports: [(String, DeviceProtocol.StatusReport)] = []
            for agent in agents {
                let configuration = try #require(try await store.effectiveConfiguration(deviceId: agent.deviceId)).deviceConfiguration
                reports.append((agent.deviceId, DeviceProtocol.StatusReport(
                    configurationHash: configuration.hash,
                    results: configuration.settings.keys.sorted().map { .init(settingId: $0, state: .succeeded) })))
            }
            // The first report alone decodes the new configuration; the others arrive together.
            let decodedBefore = store.effectiveConfigurations.documentsDecoded
            #expect(try await store.recordReport(deviceId: reports[0].0, tenant: tenant, report: reports[0].1) == .stored)
            let batchesBefore = await store.deviceWrites.batchesCommitted
            let answers = try await withThrowingTaskGroup(of: ReportOutcome.self) { group in
                for (device, report) in reports.dropFirst() {
                    group.addTask { try await store.recordReport(deviceId: device, tenant: tenant, report: report) }
                }
                var answers: [ReportOutcome] = []
                for try await answer in group { answers.append(answer) }
                return answers
            }
            let batches = await store.deviceWrites.batchesCommitted - batchesBefore
            #expect(answers == Array(repeating: .stored, count: size - 1), "every report is about the current configuration")
            if engine == .sqlite {
                #expect(batches >= 1 && batches <= size / 2, "\(size - 1) reports arriving together committed in \(batches) transactions")
            } else {
                #expect(batches == 0, "PostgreSQL runs each write in its own transaction, side by side on the pool")
            }
            // The devices share one effective configuration: decoded once for all their reports.
            #expect(store.effectiveConfigurations.documentsDecoded - decodedBefore == 1)

            let stored = try await ServerProcessTests.storedReportHashes(server)
            for (device, report) in reports {
                #expect(stored[device] == report.configurationHash, "device \(device)'s report is stored")
            }
            let summary = try await server.must(.GET, "/api/v1/policies/\(policy)/report?limit=1").objectValue?["summary"]?.objectValue
            #expect(summary?["succeeded"]?.integerValue == Int64(size), "the policy report counts every device's report: \(String(describing: summary))")
            // The same reports again (agents retrying after a lost answer) change nothing.
            let historyBefore = try await server.count("device_history")
            for (device, report) in reports.prefix(4) {
                #expect(try await store.recordReport(deviceId: device, tenant: tenant, report: report) == .stored)
            }
            #expect(try await server.count("device_history") == historyBefore)
        }
    }

    @Test(arguments: StoreEngine.available)
    func aFailingWriteFailsAloneAndTheOthersInItsBatchCommit(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken(maxUses: 3)
            var devices: [String] = []
            for index in 0..<3 { devices.append(try await TestAgent.enroll(server, name: "device-\(index)", token: token).deviceId) }
            let writes = server.store.deviceWrites
            let failing = 13
            let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
                for index in 0..<30 {
                    let device = devices[index % devices.count]
                    group.addTask {
                        do {
                            try await writes.write(deviceId: device) { sql in
                                if index == failing {
                                    try await sql.raw("UPDATE devices SET no_such_column = 1 WHERE id = \(bind: device)").run()
                                } else {
                                    try await sql.raw("UPDATE devices SET os_version = \(bind: "written-\(index)") WHERE id = \(bind: device)").run()
                                }
                            }
                            return (index, true)
                        } catch {
                            return (index, false)
                        }
                    }
                }
                var outcomes: [Int: Bool] = [:]
                for await (index, succeeded) in group { outcomes[index] = succeeded }
                return outcomes
            }
            #expect(outcomes.filter { !$0.value }.map(\.key) == [failing], "only the bad write failed: \(outcomes.filter { !$0.value }.keys.sorted())")
            let versions = try await server.sql { sql in
                try await sql.raw("SELECT id, os_version FROM devices").all().reduce(into: [String: String]()) {
                    $0[try $1.decode(column: "id", as: String.self)] = try $1.decode(column: "os_version", as: String.self)
                }
            }
            for (position, device) in devices.enumerated() {
                let written = Set((0..<30).filter { $0 % devices.count == position && $0 != failing }.map { "written-\($0)" })
                #expect(versions[device].map(written.contains) == true, "device \(position) holds one of its own writes, got \(versions[device] ?? "nothing")")
            }
        }
    }
}

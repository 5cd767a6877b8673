import Foundation
import Logging
@testable import PalisadeServer
import ServiceLifecycle
import SQLKit
import Testing

/// The last-seen writer (`LastSeenWriting`) as a service of the server's group.
@Suite struct LastSeenWritingTests {
    /// The last-seen writer as a service: times are written every interval while it runs, and
    /// the time noted just before a graceful stop is written by the stop, not lost.
    @Test(arguments: StoreEngine.available)
    func lastSeenTimesAreWrittenWhileRunningAndAtAGracefulStop(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let agent = try await TestAgent.enroll(server, name: "seen", token: try await server.createEnrollmentToken())
            let store = server.store
            // A store of its own (same database), so that the test server's writer does not flush it.
            let alone = PalisadeStore(backend: store.backend, logger: TestServer.logger)
            let tenant = try #require(try await store.deviceCredentials(deviceId: agent.deviceId)).tenantId
            let lastSeen = { @Sendable in
                try await store.read { sql in try await sql.raw("SELECT last_check_in_at FROM devices WHERE id = \(bind: agent.deviceId)").first()?.decode(column: "last_check_in_at", as: Int64?.self) }
            }
            let group = ServiceGroup(configuration: .init(services: [LastSeenWriting(store: alone)], logger: TestServer.logger))
            let first = Int64(4_000_000_000_000)
            // Before the writer runs, a noted time waits in memory.
            let enrolled = try await lastSeen()
            await alone.lastSeen.note(agent.deviceId, tenant: tenant, at: first - 1)
            try await Task.sleep(for: .milliseconds(1500))
            #expect(await alone.lastSeen.pendingCount == 1)
            #expect(try await lastSeen() == enrolled, "nothing writes it while no writer runs")
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                await alone.lastSeen.note(agent.deviceId, tenant: tenant, at: first)
                var written: Int64?? = nil
                for _ in 0..<200 where written != .some(first) {
                    try await Task.sleep(for: .milliseconds(50))
                    written = try await lastSeen()
                }
                #expect(written == .some(first), "written within the interval while the service runs")
                await alone.lastSeen.note(agent.deviceId, tenant: tenant, at: first + 1)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(try await lastSeen() == first + 1, "the graceful stop wrote the last time")
            #expect(await alone.lastSeen.pendingCount == 0)
        }
    }
}

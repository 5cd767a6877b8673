import Foundation
import PalisadeCore
import PalisadeServer
import SQLKit
import Testing

/// What a write that fails does to the replica's cached directory engine: a failure before the
/// index was touched hands it back as it was; a failure after it was touched drops it, so that
/// nothing the rolled-back transaction did can leak into later writes.
@Suite struct DirectoryFailureTests {
    @Test(arguments: StoreEngine.available)
    func aFailedWriteNeverLeavesItsChangesInTheCachedDirectory(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let tenant = try #require(try await server.store.tenants().first?.id)
            let agent = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            let group = try await server.createGroup("g", members: [agent.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await agent.sync()
            let cached = try #require(await server.store.directory.cachedDirectoryVersion(tenant: tenant))

            // 1. Refused inside the transaction, before the index is touched: the index is kept.
            let unknown = try await server.api(.PUT, "/api/v1/policies/\(policy)/assignments", ["include": ["no-such-group"]])
            #expect(unknown.status == 400)
            #expect(await server.store.directory.cachedDirectoryVersion(tenant: tenant) == cached, "a refusal costs no reload")

            // 2. Fails after the index took the assignment: storing the device's new configuration
            // is refused.
            try await Self.refuseConfigurationWrites(true, on: server.store.backend)
            let failed = try await server.api(.PUT, "/api/v1/policies/\(policy)/assignments", ["include": .array([.string(group)])])
            #expect(failed.status == 500)
            #expect(failed.errorCode == "internal_error")
            #expect(await server.store.directory.cachedDirectoryVersion(tenant: tenant) == nil, "the touched index is dropped")
            #expect(try await server.count("policy_assignments") == 0, "the transaction rolled back")
            try await Self.refuseConfigurationWrites(false, on: server.store.backend)

            // 3. The next write of the device reloads from the database: the assignment that
            // never committed does not reach the device.
            _ = try await server.must(.PATCH, "/api/v1/devices/\(agent.deviceId)", ["tags": ["after"]])
            try await agent.sync()
            #expect(try agent.managedValue("cloudService.enabled") == nil)
            #expect(try await server.store.directory.drift(tenant: tenant) == [])
            #expect(await server.store.directory.cachedDirectoryVersion(tenant: tenant) == cached + 1)

            // 4. The same assignment, now committed, arrives.
            try await server.assign(policy, include: [group])
            try await agent.sync()
            #expect(try agent.managedValue("cloudService.enabled") == true)
        }
    }

    /// Makes the database refuse (or accept again) configuration writes: a real failure late in
    /// a write transaction, after the engine was changed and before the version is bumped.
    static func refuseConfigurationWrites(_ refuse: Bool, on backend: any DatabaseBackend) async throws {
        try await backend.write(lockKey: "test") { sql in
            switch (backend.kind, refuse) {
            case (.sqlite, true):
                try await sql.raw("CREATE TRIGGER refuse_configuration_write BEFORE INSERT ON device_configurations BEGIN SELECT RAISE(ABORT, 'injected failure'); END").run()
            case (.sqlite, false):
                try await sql.raw("DROP TRIGGER refuse_configuration_write").run()
            case (.postgres, true):
                try await sql.raw("CREATE FUNCTION refuse_configuration_write() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql").run()
                try await sql.raw("CREATE TRIGGER refuse_configuration_write BEFORE INSERT ON device_configurations FOR EACH ROW EXECUTE FUNCTION refuse_configuration_write()").run()
            case (.postgres, false):
                try await sql.raw("DROP TRIGGER refuse_configuration_write ON device_configurations").run()
                try await sql.raw("DROP FUNCTION refuse_configuration_write()").run()
            }
        }
    }
}

/// The policy report: one snapshot, a summary over every device, devices a page at a time.
@Suite struct PolicyReportPagingTests {
    @Test(arguments: StoreEngine.available)
    func theSummaryCountsEveryDeviceAndPagesFollowNames(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            var agents: [TestAgent] = []
            for name in ["carol", "alice", "bob"] { agents.append(try await TestAgent.enroll(server, name: name, token: token)) }
            let group = try await server.createGroup("all", members: agents.map(\.deviceId))
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            for agent in agents { try await agent.sync() }

            let first = try await server.must(.GET, "/api/v1/policies/\(policy)/report?limit=2")
            #expect(first.objectValue?["summary"]?.objectValue?["succeeded"] == 3, "the summary counts every device, not the page")
            #expect(first.objectValue?["devices"]?.arrayValue?.compactMap { $0.objectValue?["deviceName"]?.stringValue } == ["alice", "bob"])
            let cursor = try #require(first.objectValue?["nextCursor"]?.stringValue)
            let second = try await server.must(.GET, "/api/v1/policies/\(policy)/report?limit=2&cursor=\(cursor)")
            #expect(second.objectValue?["devices"]?.arrayValue?.compactMap { $0.objectValue?["deviceName"]?.stringValue } == ["carol"])
            #expect(second.objectValue?["nextCursor"] == nil)

            let forged = try await server.api(.GET, "/api/v1/policies/\(policy)/report?cursor=not-a-cursor")
            #expect(forged.status == 400)
            #expect(forged.errorCode == "invalid_request")
        }
    }
}

import Foundation
import PalisadeCore
import PalisadeIdentity
@testable import PalisadeServer
import SQLKit
import Testing

/// The check-in hot path's writers as a service (`HotPathWriters`, issue 18): while it runs,
/// writes arriving together share transactions and replays are still refused; a graceful
/// stop writes what they hold; and a store whose writers nobody runs still answers every
/// write (each alone) instead of waiting for ever. A store without a server, as a tool has.
@Suite(.timeLimit(.minutes(2))) struct HotPathWritersTests {
    /// A migrated store with `count` enrolled devices, and no server.
    static func withStore<T: Sendable>(_ engine: StoreEngine, devices count: Int = 3,
                                       _ body: @Sendable (PalisadeStore, [String]) async throws -> T) async throws -> T {
        let directory = try TestServer.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let location: DatabaseLocation = switch engine {
        case .sqlite: .sqlite(path: directory + "/palisade.sqlite")
        case .postgres: .postgres(url: try await TestServer.createPostgresDatabase())
        }
        return try await Database.with(location, logger: TestServer.logger) { backend in
            let store = PalisadeStore(backend: backend, passwordHashCost: 4, logger: TestServer.logger)
            try await store.migrate()
            let tenant = try #require(try await store.bootstrapIfEmpty()).tenant.id
            let token = try await EnrollmentTokenService(store: store).create(tenant: tenant, by: .system("test"), name: "writers", expiresInHours: 1, maxUses: nil).token
            var devices: [String] = []
            for index in 0..<count {
                let inventory = DeviceProtocol.Inventory(hostname: "device-\(index)", platform: .linux, osVersion: "Ubuntu 24.04", hardwareId: "hw-\(index)",
                                                         agentVersion: "test", mdmEnrolled: false, tags: [])
                devices.append(try await store.enroll(.init(enrollmentToken: token, publicKey: DeviceKeyPair.generate().publicKeyPEM, inventory: inventory)).deviceId)
            }
            return try await body(store, devices)
        }
    }

    /// `count` writes of the devices' OS versions at once; each must succeed.
    static func concurrentWrites(_ store: PalisadeStore, devices: [String], count: Int) async throws {
        let writes = store.deviceWrites
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                let device = devices[index % devices.count]
                group.addTask {
                    try await writes.write(deviceId: device) { sql in
                        try await sql.raw("UPDATE devices SET os_version = \(bind: "written-\(index)") WHERE id = \(bind: device)").run()
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    static func lastSeen(_ store: PalisadeStore, _ device: String) async throws -> Int64? {
        try await store.backend.read { sql in
            try await sql.raw("SELECT last_check_in_at FROM devices WHERE id = \(bind: device)").first()?.decode(column: "last_check_in_at", as: Int64?.self)
        }
    }

    @Test(arguments: StoreEngine.available)
    func withoutTheServiceEveryWriteIsAnsweredAlone(engine: StoreEngine) async throws {
        try await Self.withStore(engine) { store, devices in
            let batchesBefore = await store.deviceWrites.batchesCommitted
            try await Self.concurrentWrites(store, devices: devices, count: 12)
            if engine == .sqlite {
                #expect(await store.deviceWrites.batchesCommitted - batchesBefore == 12, "one transaction each, committed by its caller")
            }
            let expiresAt = store.clock.nowMillis + 600_000
            #expect(try await store.recordAssertion(deviceId: devices[0], jti: "once", expiresAt: expiresAt))
            #expect(try await store.recordAssertion(deviceId: devices[0], jti: "once", expiresAt: expiresAt) == false, "a replay is refused")
            #expect(try await store.recordAssertion(deviceId: devices[1], jti: "once", expiresAt: expiresAt), "ids are per device")

            // A last-seen time waits in memory for the service, or a flush.
            let noted = store.clock.nowMillis + 3_600_000
            await store.lastSeen.note(devices[2], at: noted)
            #expect(await store.lastSeen.pendingCount == 1)
            await store.flushLastSeen()
            #expect(try await Self.lastSeen(store, devices[2]) == noted)
        }
    }

    @Test(arguments: StoreEngine.available)
    func runningTheServiceBatchesRefusesReplaysAndAGracefulStopWritesWhatItHolds(engine: StoreEngine) async throws {
        try await Self.withStore(engine) { store, devices in
            let noted = store.clock.nowMillis + 3_600_000
            let expiresAt = store.clock.nowMillis + 600_000
            let ledgerBefore = await store.assertionLedger.batchesCommitted
            let granted = try await store.withWriters {
                let batchesBefore = await store.deviceWrites.batchesCommitted
                try await Self.concurrentWrites(store, devices: devices, count: 30)
                if engine == .sqlite {
                    let batches = await store.deviceWrites.batchesCommitted - batchesBefore
                    #expect(batches >= 1 && batches <= 15, "30 writes arriving together committed in \(batches) transactions")
                }
                // Ten ids, each used twice at once: each is granted exactly once.
                let granted = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                    for index in 0..<20 {
                        let jti = "jti-\(index % 10)"
                        group.addTask { (jti, try await store.recordAssertion(deviceId: devices[0], jti: jti, expiresAt: expiresAt)) }
                    }
                    var granted: [String: Int] = [:]
                    for try await (jti, first) in group where first { granted[jti, default: 0] += 1 }
                    return granted
                }
                await store.lastSeen.note(devices[1], at: noted)
                #expect(await store.lastSeen.pendingCount == 1, "held for the next write, `interval` later")
                return granted
            }
            #expect(granted == Dictionary(uniqueKeysWithValues: (0..<10).map { ("jti-\($0)", 1) }), "each id granted once: \(granted)")
            #expect(await store.assertionLedger.batchesCommitted - ledgerBefore < 20, "uses arriving together share batches")
            // The graceful stop at the end of `withWriters` wrote the held time.
            #expect(await store.lastSeen.pendingCount == 0)
            #expect(try await Self.lastSeen(store, devices[1]) == noted)
            // Stopped: writes are answered still, each alone.
            try await Self.concurrentWrites(store, devices: devices, count: 3)
            #expect(try await store.recordAssertion(deviceId: devices[0], jti: "jti-0", expiresAt: expiresAt) == false)
        }
    }

    @Test(arguments: StoreEngine.available)
    func timesNotedBeforeTheServiceRunsAreWrittenBehindOnceItDoes(engine: StoreEngine) async throws {
        try await Self.withStore(engine) { store, devices in
            let noted = store.clock.nowMillis + 3_600_000
            await store.lastSeen.note(devices[0], at: noted)
            try await store.withWriters {
                let clock = ContinuousClock()
                let started = clock.now
                while try await Self.lastSeen(store, devices[0]) != noted, clock.now - started < .seconds(10) {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(try await Self.lastSeen(store, devices[0]) == noted, "written about `interval` after the service started, not only at its stop")
                #expect(clock.now - started >= LastSeenWriter.interval / 2)
            }
        }
    }
}

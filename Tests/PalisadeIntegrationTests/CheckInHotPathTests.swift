import AsyncHTTPClient
import Foundation
import NIOCore
import PalisadeAgent
import PalisadeCore
import PalisadeIdentity
@testable import PalisadeServer
import SQLKit
import Testing

/// The check-in hot path (issue 12): cached credentials and hashes, batched single-use ids and
/// last-seen times, without weakening what the device protocol promises.
@Suite struct CheckInHotPathTests {
    static let checkInPath = "/device/v1/check-in"

    struct Answer: Sendable {
        var replay: Bool
        var status: Int
        var code: String?
    }

    /// Two check-ins: the first of a day goes through the directory, which drops what the
    /// cache held of the device; the second leaves it cached.
    static func warm(_ server: TestServer, signer: DeviceAssertionSigner) async throws {
        for _ in 0..<2 { #expect(try await signedCheckIn(server, signer: signer).status == 200) }
    }

    static func signer(_ agent: TestAgent) async throws -> DeviceAssertionSigner {
        try await DeviceAssertionSigner(deviceId: agent.deviceId, privateKeyPEM: try #require(agent.agent.state.privateKeyPEM()))
    }

    static func checkIn(_ server: TestServer, hash: String? = nil, authorization: String) async throws -> TestServer.APIResponse {
        let body = Array(try CanonicalJSON.data(DeviceProtocol.CheckInRequest(configurationHash: hash)))
        return try await post(server, checkInPath, body: body, authorization: authorization)
    }

    static func signedCheckIn(_ server: TestServer, signer: DeviceAssertionSigner, hash: String? = nil) async throws -> TestServer.APIResponse {
        let body = Array(try CanonicalJSON.data(DeviceProtocol.CheckInRequest(configurationHash: hash)))
        let header = try await signer.authorizationHeader(method: "POST", path: checkInPath, body: body)
        return try await post(server, checkInPath, body: body, authorization: header)
    }

    static func post(_ server: TestServer, _ path: String, body: [UInt8], authorization: String) async throws -> TestServer.APIResponse {
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: authorization)
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return TestServer.APIResponse(status: Int(response.status.code), body: try JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView)))
    }

    /// The same assertion sent many times at once: the uses land in one batch or in batches
    /// committing one after the other; exactly one is accepted.
    @Test(arguments: StoreEngine.available)
    func aReplayInTheSameBatchIsRefused(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let agent = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            let signer = try await Self.signer(agent)
            let body = Array(try CanonicalJSON.data(DeviceProtocol.CheckInRequest(configurationHash: nil)))
            // Other devices' fresh requests in the same batches.
            let header = try await signer.authorizationHeader(method: "POST", path: Self.checkInPath, body: body)
            let answers = try await withThrowingTaskGroup(of: Answer.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        let replay = index % 2 == 0
                        let response = replay
                            ? try await Self.checkIn(server, authorization: header)
                            : try await Self.signedCheckIn(server, signer: signer)
                        return Answer(replay: replay, status: response.status, code: response.errorCode)
                    }
                }
                var all: [Answer] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            let sameAssertion = answers.filter(\.replay)
            let accepted = sameAssertion.filter { $0.status == 200 }.count
            let refused = sameAssertion.filter { $0.status == 401 && $0.code == "assertion_replayed" }.count
            #expect(accepted == 1, "one use of the assertion is accepted: \(sameAssertion)")
            #expect(refused == 7)
            let fresh = answers.filter { !$0.replay }
            #expect(fresh.allSatisfy { $0.status == 200 }, "fresh assertions in the same batches are accepted: \(fresh)")
            #expect(try await server.count("device_assertion_nonces") == 9)
        }
    }

    /// Two replicas on one PostgreSQL: the same assertion sent to both at once, and again one
    /// after the other. The database's unique key decides across batches and replicas.
    @Test(.enabled(if: StoreEngine.available.contains(.postgres), "needs PALISADE_TEST_POSTGRES_URL"))
    func aReplayOnAnotherReplicaIsRefused() async throws {
        try await TestServer.withReplicas(2) { replicas in
            let (first, second) = (replicas[0], replicas[1])
            let agent = try await TestAgent.enroll(first, name: "alpha", token: try await first.createEnrollmentToken())
            let signer = try await Self.signer(agent)
            let body = Array(try CanonicalJSON.data(DeviceProtocol.CheckInRequest(configurationHash: nil)))
            for round in 0..<5 {
                let header = try await signer.authorizationHeader(method: "POST", path: Self.checkInPath, body: body)
                async let onFirst = Self.checkIn(first, authorization: header)
                async let onSecond = Self.checkIn(second, authorization: header)
                let answers = try await [onFirst, onSecond]
                #expect(answers.map(\.status).sorted() == [200, 401], "round \(round): one replica accepts, the other refuses: \(answers.map(\.status))")
                #expect(answers.contains { $0.errorCode == "assertion_replayed" })
            }
            let header = try await signer.authorizationHeader(method: "POST", path: Self.checkInPath, body: body)
            #expect(try await Self.checkIn(first, authorization: header).status == 200)
            let again = try await Self.checkIn(second, authorization: header)
            #expect(again.status == 401)
            #expect(again.errorCode == "assertion_replayed")
        }
    }

    /// A retired device is refused by the replica that cached its key, at once on the replica
    /// that retired it and within the notification delay on another.
    @Test(arguments: StoreEngine.available)
    func aRetiredDeviceIsRefusedAfterItsKeyWasCached(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let agent = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            let signer = try await Self.signer(agent)
            try await Self.warm(server, signer: signer)
            #expect(server.store.notifier.cache.credentials(agent.deviceId) != nil, "the key is cached")
            #expect(try await server.api(.DELETE, "/api/v1/devices/\(agent.deviceId)").status == 204)
            let refused = try await Self.signedCheckIn(server, signer: signer)
            #expect(refused.status == 403)
            #expect(refused.errorCode == "device_retired")
        }
    }

    @Test(.enabled(if: StoreEngine.available.contains(.postgres), "needs PALISADE_TEST_POSTGRES_URL"))
    func aDeviceRetiredOnAnotherReplicaIsRefusedWithinTheNotificationDelay() async throws {
        try await TestServer.withReplicas(2) { replicas in
            let (first, second) = (replicas[0], replicas[1])
            let agent = try await TestAgent.enroll(first, name: "alpha", token: try await first.createEnrollmentToken())
            let signer = try await Self.signer(agent)
            try await Self.warm(first, signer: signer)
            #expect(first.store.notifier.cache.credentials(agent.deviceId) != nil, "the first replica cached the key")
            #expect(try await second.api(.DELETE, "/api/v1/devices/\(agent.deviceId)").status == 204)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(5)
            var last = try await Self.signedCheckIn(first, signer: signer)
            while last.status == 200, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                last = try await Self.signedCheckIn(first, signer: signer)
            }
            #expect(last.status == 403, "refused within 5 s (the cache's time to live is \(DeviceHotPathCache.defaultTimeToLive))")
            #expect(last.errorCode == "device_retired")
        }
    }

    /// Re-enrollment replaces the key: the new one is accepted and the cached old one refused.
    @Test(arguments: StoreEngine.available)
    func aReenrolledKeyIsAcceptedAndTheOldOneRefused(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let first = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            let oldSigner = try await Self.signer(first)
            try await Self.warm(server, signer: oldSigner)
            #expect(server.store.notifier.cache.credentials(first.deviceId) != nil)
            try FileManager.default.removeItem(atPath: server.directory + "/agents/alpha")
            let second = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken(allowReenrollment: true))
            #expect(second.deviceId == first.deviceId)
            let newSigner = try await Self.signer(second)
            #expect(try await Self.signedCheckIn(server, signer: newSigner).status == 200)
            let old = try await Self.signedCheckIn(server, signer: oldSigner)
            #expect(old.status == 401)
            #expect(old.errorCode == "assertion_invalid")
        }
    }

    /// A key waiting for approval is named as such even when the device's credentials were
    /// cached before the attempt; once approved it is accepted and the old key refused.
    @Test(arguments: StoreEngine.available)
    func aPendingKeyIsRecognisedAfterTheCredentialsWereCached(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let first = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            let oldSigner = try await Self.signer(first)
            try await Self.warm(server, signer: oldSigner)
            #expect(server.store.notifier.cache.credentials(first.deviceId) != nil)
            try FileManager.default.moveItem(atPath: server.directory + "/agents/alpha", toPath: server.directory + "/agents/alpha-old")
            let claimant = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            let newSigner = try await Self.signer(claimant)
            let pending = try await Self.signedCheckIn(server, signer: newSigner)
            #expect(pending.status == 403)
            #expect(pending.errorCode == "reenrollment_pending")
            _ = try await server.must(.POST, "/api/v1/devices/\(first.deviceId)/approve-reenrollment")
            #expect(try await Self.signedCheckIn(server, signer: newSigner).status == 200)
            #expect(try await Self.signedCheckIn(server, signer: oldSigner).errorCode == "assertion_invalid")
        }
    }

    /// An unchanged answer from the cache must not survive a policy change: the next check-in
    /// (not a long-poll) receives the new configuration.
    @Test(arguments: StoreEngine.available)
    func aCachedHashIsInvalidatedByAPolicyChange(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, policy) = try await TestAgent.enrolledWithPolicy(server, settings: ["cloudService.enabled": true])
            try await agent.sync()  // applied and reported: the steady state the cache holds
            let signer = try await Self.signer(agent)
            let current = try await Self.signedCheckIn(server, signer: signer)
            let hash = try #require(current["configurationHash"]?.stringValue)
            #expect(try await Self.signedCheckIn(server, signer: signer, hash: hash)["status"] == "unchanged")
            #expect(server.store.notifier.cache.configurationHash(agent.deviceId) == .some(hash), "the hash is cached")
            _ = try await server.must(.PUT, "/api/v1/policies/\(policy)", [
                "name": "AV", "platform": "linux", "template": "antivirus", "settings": ["cloudService.enabled": false],
            ])
            let changed = try await Self.signedCheckIn(server, signer: signer, hash: hash)
            #expect(changed["status"] == "changed")
            #expect(changed["configurationHash"]?.stringValue != hash)
        }
    }

    /// "Sync now" is answered even though the hash was cached as unchanged.
    @Test(arguments: StoreEngine.available)
    func aSyncRequestIsAnsweredDespiteACachedHash(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, _) = try await TestAgent.enrolledWithPolicy(server, settings: ["cloudService.enabled": true])
            try await agent.sync()  // applied and reported: the steady state the cache holds
            let signer = try await Self.signer(agent)
            let hash = try #require(try await Self.signedCheckIn(server, signer: signer)["configurationHash"]?.stringValue)
            #expect(try await Self.signedCheckIn(server, signer: signer, hash: hash)["status"] == "unchanged")
            _ = try await server.must(.POST, "/api/v1/devices/\(agent.deviceId)/sync")
            let answer = try await Self.signedCheckIn(server, signer: signer, hash: hash)
            #expect(answer["status"] == "changed")
            #expect(answer["reportRequested"] == true)
        }
    }

    /// Unchanged check-ins write their last-seen time behind; it reaches the database.
    /// (Held in memory until written: `LastSeenWritingTests`, with a store nobody writes for.)
    @Test(arguments: StoreEngine.available)
    func lastSeenTimesAreWrittenBehindAndFlushed(engine: StoreEngine) async throws {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
        try await TestServer.with(engine, clock: clock) { server in
            let agent = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            try await agent.sync()
            try await agent.sync()
            let lastSeen = { @Sendable in
                try await server.sql { sql in try await sql.raw("SELECT last_check_in_at FROM devices").first()!.decode(column: "last_check_in_at", as: Int64?.self) }
            }
            let before = try #require(try await lastSeen())
            clock.advance(by: 60)
            try await agent.sync()
            // Written behind, by the server's writer (`LastSeenWriting`, every second) or by this
            // flush, whichever comes first; a write the writer has begun is waited for.
            await server.store.flushLastSeen()
            var written = try await lastSeen()
            for _ in 0..<100 where written != before + 60_000 {
                try await Task.sleep(for: .milliseconds(50))
                written = try await lastSeen()
            }
            #expect(written == before + 60_000)
            #expect(await server.store.lastSeen.pendingCount == 0)
        }
    }
}

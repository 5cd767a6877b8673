import Foundation
import PalisadeAgent
import PalisadeCore
@testable import PalisadeServer
import SQLKit
import Testing

/// Several `palisade serve` replicas on one PostgreSQL database.
@Suite(.enabled(if: StoreEngine.available.contains(.postgres), "needs PALISADE_TEST_POSTGRES_URL (.ci/run sets it)"))
struct ReplicaTests {
    @Test func replicasStartingTogetherMigrateOnce() async throws {
        let url = try await TestServer.createPostgresDatabase()
        let versions = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await Database.with(.postgres(url: url), logger: TestServer.logger) { backend in
                        try await PalisadeStore(backend: backend, logger: TestServer.logger).migrate()
                    }
                }
            }
            var applied: [Int] = []
            for try await versions in group { applied += versions }
            return applied
        }
        #expect(!versions.isEmpty && Set(versions).count == versions.count, "each migration is applied by exactly one replica: \(versions)")
        // Migration numbers may have gaps (branches number theirs apart); every one is applied.
        let recorded = try await Database.with(.postgres(url: url), logger: TestServer.logger) { backend in
            try await backend.read { sql in try await sql.raw("SELECT version FROM palisade_migrations ORDER BY version").all().map { try $0.decode(column: "version", as: Int.self) } }
        }
        #expect(versions.sorted() == recorded, "and all of them are")
        let tenants = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await Database.with(.postgres(url: url), logger: TestServer.logger) { backend in
                        try await PalisadeStore(backend: backend, logger: TestServer.logger).bootstrapIfEmpty() != nil
                    }
                }
            }
            var created = 0
            for try await made in group where made { created += 1 }
            return created
        }
        #expect(tenants == 1, "exactly one replica creates the first tenant")
    }

    @Test func aChangeMadeOnOneReplicaWakesALongPollOnAnother() async throws {
        try await TestServer.withReplicas(2) { replicas in
            let (first, second) = (replicas[0], replicas[1])
            let token = try await second.createEnrollmentToken()
            // The agent talks to the first replica; the admin to the second.
            let agent = try await TestAgent.enroll(first, name: "alpha", token: token)
            let group = try await second.createGroup("all", members: [agent.deviceId])
            try await agent.sync()

            // Parked on the first replica; the change is made through the second.
            let (result, elapsed) = try await agent.checkIn(parkedOn: first, waitSeconds: 120) {
                let policy = try await second.createPolicy("AV", settings: ["antivirusEngine.enforcementLevel": "real_time"])
                try await second.assign(policy, include: [group])
            }
            guard case .applied = result else {
                Issue.record("expected the new configuration, got \(result)")
                return
            }
            #expect(elapsed < .seconds(60), "woken across replicas, not at the end of the 120 s wait (took \(elapsed))")
            #expect(try agent.managedValue("antivirusEngine.enforcementLevel") == "real_time")
        }
    }

    /// Each replica keeps its own in-memory directory engine; a write on one replica must see
    /// every change the other made (through the logged directory version), or it would compute
    /// configurations from a stale directory.
    @Test func eachReplicasDirectoryFollowsChangesMadeOnTheOther() async throws {
        try await TestServer.withReplicas(2) { replicas in
            let (first, second) = (replicas[0], replicas[1])
            let token = try await first.createEnrollmentToken()
            let alpha = try await TestAgent.enroll(first, name: "alpha", token: token, tags: ["prod"])
            let beta = try await TestAgent.enroll(first, name: "beta", token: token)
            // First replica loads its directory now; the group and policy come from the second.
            let unrelated = try await first.createGroup("unrelated", members: [beta.deviceId])
            let group = try #require(try await second.must(.POST, "/api/v1/groups", ["name": "prod", "membershipRule": #"device.agentTags -contains "prod" -or device.tags -contains "prod""#]).objectValue?["id"]?.stringValue)
            let policy = try await second.createPolicy("AV", settings: ["antivirusEngine.enforcementLevel": "real_time"])
            try await second.assign(policy, include: [group])

            // Tagging beta on the first replica: its engine must know the second's rule and policy.
            _ = try await first.must(.PATCH, "/api/v1/devices/\(beta.deviceId)", ["tags": ["prod"]])
            try await beta.sync()
            #expect(try beta.managedValue("antivirusEngine.enforcementLevel") == "real_time")
            #expect(try await first.api(.GET, "/api/v1/groups/\(group)")["memberCount"] == 2)

            // A rule change on the second replica takes alpha out; the first replica's preview
            // and its next write see the new rule.
            _ = try await second.must(.PUT, "/api/v1/groups/\(group)", ["membershipRule": #"device.name -eq "beta""#])
            try await alpha.sync()
            #expect(try alpha.managedFile() == nil)
            #expect(try await first.api(.POST, "/api/v1/groups/preview", ["membershipRule": #"device.agentTags -contains "prod" -or device.tags -contains "prod""#])["count"] == 2)
            let preview = try await first.api(.POST, "/api/v1/policies/\(policy)/preview", ["assignments": ["include": [.string(unrelated)], "exclude": []]])
            #expect(preview["devicesEvaluated"] == 1, "the policy reaches beta through the new rule, and would reach beta through the static group")
            #expect(preview["devicesChanged"] == 0)

            // Nesting reversed in two commits on the second replica: the first replica, catching up
            // both at once, must not mistake the intermediate states for a cycle.
            let x = try await second.createGroup("x", members: [alpha.deviceId])
            let y = try #require(try await second.must(.POST, "/api/v1/groups", ["name": "y", "groups": [.string(x)]]).objectValue?["id"]?.stringValue)
            #expect(try await first.api(.GET, "/api/v1/groups/\(y)")["memberCount"] == 0)
            #expect(try await second.api(.DELETE, "/api/v1/groups/\(y)/members/\(x)").status == 204)
            _ = try await second.must(.POST, "/api/v1/groups/\(x)/members", ["groupIds": [.string(y)]])
            _ = try await first.must(.PATCH, "/api/v1/devices/\(alpha.deviceId)", ["tags": ["after"]])
            let nested = try await first.api(.GET, "/api/v1/groups/\(x)")
            #expect(nested["nestedGroups"] == [.string(y)])
            // And back: groups are applied in id order, so one of the two rounds meets the trap.
            #expect(try await second.api(.DELETE, "/api/v1/groups/\(x)/members/\(y)").status == 204)
            _ = try await second.must(.POST, "/api/v1/groups/\(y)/members", ["groupIds": [.string(x)]])
            _ = try await first.must(.PATCH, "/api/v1/devices/\(alpha.deviceId)", ["tags": ["again"]])
            #expect(try await first.api(.GET, "/api/v1/groups/\(y)")["nestedGroups"] == [.string(x)])
            #expect(try await first.api(.GET, "/api/v1/groups/\(y)")["memberCount"] == 0)

            // Every stored configuration is what a fresh load of the tenant computes.
            let tenant = try #require(try await first.store.tenants().first?.id)
            #expect(try await first.store.directory.drift(tenant: tenant) == [])
        }
    }
}

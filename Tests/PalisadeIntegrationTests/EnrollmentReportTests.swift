import Foundation
import PalisadeCore
import PalisadeIdentity
import PalisadeServer
import SQLKit
import Testing

/// The enrollment report: each device's enrollment state with its reason, and refused attempts.
@Suite struct EnrollmentReportTests {
    @Test(arguments: StoreEngine.available)
    func everyDeviceHasItsStateAndAReadableReason(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let fresh = try await TestAgent.enroll(server, name: "fresh", token: token)
            try await fresh.sync()
            let old = try await TestAgent.enroll(server, name: "old", token: token)
            let mdm = try await TestAgent.enroll(server, name: "mdm", token: token)
            let mac = try await TestAgent.enroll(server, name: "mac", token: token, platform: .macos)
            let pending = try await TestAgent.enroll(server, name: "pending", token: token)
            let gone = try await TestAgent.enroll(server, name: "gone", token: token)
            try await server.must(.DELETE, "/api/v1/devices/\(gone.deviceId)")
            try await server.must(.PUT, "/api/v1/settings/devices", ["staleAfterDays": 7])
            try await server.must(.PUT, "/api/v1/settings/enforcement", ["platforms": ["linux": true, "macos": false, "windows": true, "windowsServer": true], "scope": "all"])
            let twelveDaysAgo = server.store.clock.nowMillis - 12 * 86_400_000
            try await server.sql { sql in
                try await sql.raw("UPDATE devices SET last_check_in_at = \(bind: twelveDaysAgo) WHERE id = \(bind: old.deviceId)").run()
                try await sql.raw("UPDATE devices SET managed_by = 'mdm' WHERE id = \(bind: mdm.deviceId)").run()
                try await sql.raw("""
                    UPDATE devices SET pending_public_key = 'k', pending_since = \(bind: server.store.clock.nowMillis - 3_600_000), pending_source = '10.0.0.9'
                    WHERE id = \(bind: pending.deviceId)
                    """).run()
            }

            let report = try await server.api(.GET, "/api/v1/reports/enrollment")
            #expect(report.status == 200)
            let rows = try #require(report["devices"]?.arrayValue).compactMap(\.objectValue)
            var byId: [String: [String: JSONValue]] = [:]
            for row in rows { byId[row["deviceId"]?.stringValue ?? ""] = row }
            func state(_ agent: TestAgent) -> String? { byId[agent.deviceId]?["state"]?.stringValue }
            func reason(_ agent: TestAgent) -> String { byId[agent.deviceId]?["reason"]?.stringValue ?? "" }
            #expect(state(fresh) == "enrolled")
            #expect(reason(fresh).hasPrefix("last seen"))
            #expect(state(old) == "stale")
            #expect(reason(old) == "last seen 12 days ago; stale after 7 days")
            #expect(state(mdm) == "managedElsewhere")
            #expect(reason(mdm).contains("another channel (mdm)"))
            #expect(state(mac) == "outOfScope")
            #expect(reason(mac).contains("switched off for macos"))
            #expect(state(pending) == "pendingReenrollment")
            #expect(reason(pending) == "enrolled again with a new key from 10.0.0.9 1 hour ago; waiting for an administrator's approval")
            #expect(state(gone) == "retired")
            #expect(reason(gone).hasPrefix("retired by an administrator on 20"))
            #expect(report["summary"] == ["enrolled": 1, "pendingReenrollment": 1, "stale": 1, "outOfScope": 1, "managedElsewhere": 1, "retired": 1])

            // A filter by state; paging by id; the summary always counts every device.
            let stale = try await server.api(.GET, "/api/v1/reports/enrollment?state=stale")
            #expect(stale["devices"]?.arrayValue?.compactMap { $0.objectValue?["deviceId"]?.stringValue } == [old.deviceId])
            #expect(stale["summary"] == report["summary"])
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await server.api(.GET, "/api/v1/reports/enrollment?limit=4" + (cursor.map { "&cursor=\($0)" } ?? ""))
                seen += page["devices"]?.arrayValue?.compactMap { $0.objectValue?["deviceId"]?.stringValue } ?? []
                cursor = page["nextCursor"]?.stringValue
            } while cursor != nil
            #expect(seen == rows.compactMap { $0["deviceId"]?.stringValue })
            #expect(seen.count == 6)
            // The CSV export: every device (paging does not apply), the same states and reasons.
            let csv = try await server.api(.GET, "/api/v1/reports/enrollment?format=csv&limit=1")
            #expect(csv.status == 200)
            #expect(csv.headers["Content-Type"].first?.hasPrefix("text/csv") == true)
            let lines = (csv.body.stringValue ?? "").split(separator: "\r\n").map(String.init)
            #expect(lines.first == "deviceId,deviceName,platform,state,reason,defender,enrolledAt,lastCheckInAt")
            #expect(lines.count == 7)
            #expect(lines.contains { $0.hasPrefix("\(old.deviceId),old,linux,stale,last seen 12 days ago; stale after 7 days,") })
            let staleCSV = try await server.api(.GET, "/api/v1/reports/enrollment?state=stale", headers: ["Accept": "text/csv"])
            #expect((staleCSV.body.stringValue ?? "").split(separator: "\r\n").count == 2)
            #expect(try await server.api(.GET, "/api/v1/reports/enrollment?format=xml").status == 400)
            let bad = try await server.api(.GET, "/api/v1/reports/enrollment?state=lost")
            #expect(bad.status == 400)
            #expect(bad.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["field"] == "state")
        }
    }

    /// An enrollment request as an agent would send it, without any Authorization header.
    func enroll(_ server: TestServer, token: String, hostname: String, publicKey: String? = nil) async throws -> TestServer.APIResponse {
        let key = publicKey ?? PalisadeIdentityKey.publicKeyPEM
        return try await server.api(.POST, "/device/v1/enroll", [
            "enrollmentToken": .string(token), "publicKey": .string(key),
            "inventory": ["hostname": .string(hostname), "platform": "linux", "osVersion": "12", "hardwareId": .string("hw-\(hostname)"), "agentVersion": "1.0", "mdmEnrolled": false],
        ], token: "")
    }

    @Test("An enrollment repeated with the same hardware id and key (an agent retrying after a lost answer) is the same device and uses nothing, even of a used-up token",
          arguments: StoreEngine.available)
    func repeatedEnrollmentIsIdempotent(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let once = try await server.createEnrollmentToken(maxUses: 1)
            let first = try await enroll(server, token: once, hostname: "retrying")
            #expect(first.status == 201)
            let repeated = try await enroll(server, token: once, hostname: "retrying")
            #expect(repeated.status == 201, "\(repeated.body)")
            #expect(repeated["deviceId"] == first["deviceId"])
            let tokens = try await server.must(.GET, "/api/v1/enrollment-tokens")
            #expect(tokens.objectValue?["enrollmentTokens"]?.arrayValue?.first?.objectValue?["uses"]?.integerValue == 1)
            // Another key for that hardware id, or another device, is a new use: refused.
            #expect(try await enroll(server, token: once, hostname: "retrying", publicKey: DeviceKeyPair.generate().publicKeyPEM).errorCode == "enrollment_token_exhausted")
            #expect(try await enroll(server, token: once, hostname: "other").errorCode == "enrollment_token_exhausted")
        }
    }

    @Test(arguments: StoreEngine.available)
    func refusedEnrollmentAttemptsAreListedWithTimeSourceAndReason(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let expired = try await server.createEnrollmentToken()
            try await server.sql { sql in try await sql.raw("UPDATE enrollment_tokens SET expires_at = 0").run() }
            let once = try await server.createEnrollmentToken(maxUses: 1)
            let revokedCreated = try await server.must(.POST, "/api/v1/enrollment-tokens", ["name": "revoked", "expiresInHours": 1])
            let revoked = try #require(revokedCreated.objectValue?["token"]?.stringValue)
            try await server.must(.DELETE, "/api/v1/enrollment-tokens/\(try #require(revokedCreated.objectValue?["id"]?.stringValue))")

            #expect(try await enroll(server, token: "pet_unknown", hostname: "stranger").status == 401)
            #expect(try await enroll(server, token: expired, hostname: "late").errorCode == "enrollment_token_expired")
            #expect(try await enroll(server, token: once, hostname: "first").status == 201)
            #expect(try await enroll(server, token: once, hostname: "second").errorCode == "enrollment_token_exhausted")
            #expect(try await enroll(server, token: revoked, hostname: "revoked").errorCode == "enrollment_token_invalid")
            #expect(try await enroll(server, token: once, hostname: "badkey", publicKey: "not a key").errorCode == "invalid_public_key")

            // A bad proof of an existing device's key is refused and recorded too.
            let forged = try await server.api(.POST, "/device/v1/enroll", [
                "enrollmentToken": .string(once), "publicKey": .string(PalisadeIdentityKey.publicKeyPEM),
                "inventory": ["hostname": "forger", "platform": "linux", "osVersion": "12", "hardwareId": "hw-forger", "agentVersion": "1.0", "mdmEnrolled": false],
            ], token: "", headers: ["Authorization": "PalisadeDevice not.a.jwt"])
            #expect(forged.status == 401)
            let forgedCode = try #require(forged.errorCode)

            let refused = try await server.api(.GET, "/api/v1/reports/enrollment/refused")
            #expect(refused.status == 200)
            var attempts = try #require(refused["attempts"]?.arrayValue).compactMap(\.objectValue)
            #expect(attempts.first?["hostname"] == "forger")
            #expect(attempts.first?["code"] == .string(forgedCode))
            attempts.removeFirst()
            #expect(attempts.map { $0["hostname"]?.stringValue } == ["badkey", "revoked", "second", "late", "stranger"], "newest first; the accepted one is not there")
            #expect(attempts.map { $0["code"]?.stringValue } == ["invalid_public_key", "enrollment_token_invalid", "enrollment_token_exhausted", "enrollment_token_expired", "enrollment_token_invalid"])
            #expect(attempts.allSatisfy { $0["sourceAddress"] == "127.0.0.1" && $0["at"]?.stringValue != nil })
            #expect(attempts[1]["reason"]?.stringValue?.contains("revoked") == true)
            #expect(attempts[4]["enrollmentTokenId"] == nil, "an unknown token names no token")
            #expect(attempts[3]["enrollmentTokenId"]?.stringValue != nil)

            let first = try await server.api(.GET, "/api/v1/reports/enrollment/refused?limit=2")
            let cursor = try #require(first["nextCursor"]?.stringValue)
            let rest = try await server.api(.GET, "/api/v1/reports/enrollment/refused?limit=10&cursor=\(cursor)")
            #expect(rest["attempts"]?.arrayValue?.compactMap { $0.objectValue?["hostname"]?.stringValue } == ["revoked", "second", "late", "stranger"])
            #expect(try await server.api(.GET, "/api/v1/reports/enrollment/refused?cursor=zzz").status == 400)

            for role in ["readOnlyOperator", "helpDeskOperator"] {
                let token = try await roleToken(server, role)
                #expect(try await server.api(.GET, "/api/v1/reports/enrollment", token: token).status == 200)
                #expect(try await server.api(.GET, "/api/v1/reports/enrollment/refused", token: token).status == 200)
            }
        }
    }

    /// Whatever an attacker sends, the table keeps at most the tenant's limit (the newest) and
    /// nothing older than the retention.
    @Test(arguments: StoreEngine.available)
    func refusedAttemptsStayBounded(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let limit = PalisadeStore.refusedEnrollmentLimitPerTenant
            let now = server.store.clock.nowMillis
            let ancient = now - Int64(PalisadeStore.refusedEnrollmentRetentionDays + 1) * 86_400_000
            try await server.sql { sql in
                for start in stride(from: 0, to: limit, by: 500) {
                    let chunk = Array(start..<min(start + 500, limit))
                    try await sql.raw(SQLQueryString.insert(
                        "INSERT INTO refused_enrollments (id, tenant_id, at, source_address, hostname, code, reason) VALUES ",
                        rows: chunk.map { "(\(bind: "old-\($0)"), '', \(bind: now - 1_000_000 + Int64($0)), '192.0.2.1', 'flood', 'enrollment_token_invalid', 'unknown')" })).run()
                }
                try await sql.raw("INSERT INTO refused_enrollments (id, tenant_id, at, code, reason) VALUES ('ancient', 'other', \(bind: ancient), 'x', 'y')").run()
            }
            #expect(try await enroll(server, token: "pet_flood", hostname: "newest").status == 401)
            #expect(try await server.count("refused_enrollments") == limit, "capped, the ancient one purged")
            let oldest = try await server.sql { sql in
                try await sql.raw("SELECT id FROM refused_enrollments WHERE id = 'old-0' OR id = 'ancient'").all().count
            }
            #expect(oldest == 0, "the oldest made room")
            let newest = try await server.api(.GET, "/api/v1/reports/enrollment/refused?limit=1")
            #expect(newest["attempts"]?.arrayValue?.first?.objectValue?["hostname"] == "newest")
        }
    }
}

/// A valid P-256 public key for raw enrollment requests.
enum PalisadeIdentityKey {
    static let publicKeyPEM = DeviceKeyPair.generate().publicKeyPEM
}

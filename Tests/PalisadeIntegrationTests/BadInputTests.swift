import AsyncHTTPClient
import Foundation
import NIOCore
import PalisadeAgent
import PalisadeCore
import PalisadeIdentity
import PalisadeServer
import SQLKit
import Testing

/// Every bad input gets a clear error that says what is wrong and where, and nothing is stored.
@Suite struct BadInputTests {
    @Test(arguments: StoreEngine.available)
    func adminAPIRefusesBadPoliciesAndStoresNothing(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let malformed = try await server.api(.POST, "/api/v1/policies", rawBody: Array(#"{"name": "x", "platform": "#.utf8))
            #expect(malformed.status == 400)
            #expect(malformed.errorCode == "invalid_json")

            func create(_ settings: JSONValue, template: String = "antivirus", platform: String = "linux") async throws -> TestServer.APIResponse {
                try await server.api(.POST, "/api/v1/policies", ["name": "p", "platform": .string(platform), "template": .string(template), "settings": settings])
            }
            let unknown = try await create(["antivirusEngine.doesNotExist": true])
            #expect(unknown.status == 400)
            #expect(unknown.errorCode == "invalid_settings")
            #expect(unknown.errorMessage?.contains("antivirusEngine.doesNotExist") == true)
            #expect(problem(unknown)?["kind"] == "unknownSetting")

            let wrongType = try await create(["cloudService.enabled": "yes"])
            #expect(wrongType.status == 400)
            #expect(problem(wrongType)?["settingId"] == "cloudService.enabled")
            #expect(problem(wrongType)?["expected"] == "a boolean")
            #expect(problem(wrongType)?["given"] == "\"yes\"")

            let outOfRange = try await create(["antivirusEngine.maximumOnDemandScanThreads": 65])
            #expect(outOfRange.status == 400)
            #expect(outOfRange.errorMessage?.contains("an integer from 1 to 64") == true)
            #expect(outOfRange.errorMessage?.contains("65") == true)

            let badEnum = try await create(["cloudService.cloudBlockLevel": "extreme"])
            #expect(badEnum.errorMessage?.contains("\"zero_tolerance\"") == true)

            let badItem = try await create(["antivirusEngine.exclusions": [["$type": "excludedPath"]]], template: "antivirusExclusions")
            #expect(problem(badItem)?["path"] == "antivirusEngine.exclusions[0].path")

            let wrongTemplate = try await create(["antivirusEngine.exclusions": []], template: "antivirus")
            #expect(problem(wrongTemplate)?["kind"] == "wrongTemplate")

            let badPlatform = try await create([:], platform: "beos")
            #expect(badPlatform.status == 400)
            #expect(badPlatform.errorMessage?.contains("platform") == true)
            #expect(badPlatform.errorMessage?.contains("\"linux\"") == true)

            let missingName = try await server.api(.POST, "/api/v1/policies", ["platform": "linux", "template": "antivirus"])
            #expect(missingName.status == 400)
            #expect(missingName.errorMessage == "name is required")

            let oversized = try await server.api(.POST, "/api/v1/policies", rawBody: Array(repeating: UInt8(ascii: " "), count: 2 * 1024 * 1024))
            #expect(oversized.status == 413)
            #expect(oversized.errorCode == "payload_too_large")

            #expect(try await server.count("policies") == 0)
            #expect(try await server.count("policy_revisions") == 0)
        }
    }

    @Test(arguments: StoreEngine.available)
    func unknownGroupsAndDevicesAreRefusedWithoutPartialWrites(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, group, policy) = try await TestAgent.enrolledWithPolicy(server, name: "alpha", settings: ["cloudService.enabled": true])

            let unknownGroup = try await server.api(.PUT, "/api/v1/policies/\(policy)/assignments", ["include": [.string(group), "no-such-group"]])
            #expect(unknownGroup.status == 400)
            #expect(unknownGroup.errorCode == "unknown_group")
            #expect(unknownGroup.errorMessage?.contains("no-such-group") == true)
            let stored = try await server.api(.GET, "/api/v1/policies/\(policy)")
            #expect(stored["assignments"]?.objectValue?["include"] == [.string(group)], "the previous assignment is intact")

            let both = try await server.api(.PUT, "/api/v1/policies/\(policy)/assignments", ["include": [.string(group)], "exclude": [.string(group)]])
            #expect(both.status == 400)

            let unknownDevice = try await server.api(.POST, "/api/v1/groups", ["name": "h", "members": [.string(agent.deviceId), "ghost"]])
            #expect(unknownDevice.status == 400)
            #expect(unknownDevice.errorCode == "unknown_device")
            #expect(try await server.count("device_groups") == 1)
            #expect(try await server.count("group_members") == 1)

            let noAuth = try await server.api(.GET, "/api/v1/devices", token: "pat_wrong")
            #expect(noAuth.status == 401)
            let badLimit = try await server.api(.GET, "/api/v1/devices?limit=0")
            #expect(badLimit.status == 400)
            #expect(badLimit.errorMessage?.contains("limit") == true)
            let wrongMethod = try await server.api(.PATCH, "/api/v1/groups/\(group)", ["name": "x"])
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.errorMessage?.contains("allowed: DELETE, GET") == true)
            let noRoute = try await server.api(.GET, "/api/v1/nothing-here")
            #expect(noRoute.status == 404)
            #expect(noRoute.errorCode == "not_found")
        }
    }

    @Test(arguments: StoreEngine.available)
    func enrollmentTokensThatExpiredWereUsedUpOrRevokedAreRefused(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let once = try await server.createEnrollmentToken(maxUses: 1)
            _ = try await TestAgent.enroll(server, name: "first", token: once)
            await #expect(throws: AgentError.server(status: 401, code: "enrollment_token_exhausted", message: "the enrollment token \"test\" has been used 1 of 1 times")) {
                try await TestAgent.enroll(server, name: "second", token: once)
            }

            let expiring = try await server.createEnrollmentToken()
            try await server.store.backend.write(lockKey: "test") { sql in
                try await sql.raw("UPDATE enrollment_tokens SET expires_at = 1000 WHERE uses = 0").run()
            }
            do {
                _ = try await TestAgent.enroll(server, name: "third", token: expiring)
                Issue.record("an expired token enrolled a device")
            } catch let AgentError.server(status, code, message) {
                #expect(status == 401)
                #expect(code == "enrollment_token_expired")
                #expect(message.contains("expired at 1970-01-01"))
            }

            let revoked = try await server.createEnrollmentToken()
            let list = try await server.api(.GET, "/api/v1/enrollment-tokens")
            let revokedId = try #require(list["enrollmentTokens"]?.arrayValue?.last { $0.objectValue?["uses"] == 0 && $0.objectValue?["expiresAt"] != "1970-01-01T00:00:01Z" }?.objectValue?["id"]?.stringValue)
            #expect(try await server.api(.DELETE, "/api/v1/enrollment-tokens/\(revokedId)").status == 204)
            await #expect(throws: AgentError.self) { try await TestAgent.enroll(server, name: "fourth", token: revoked) }
            await #expect(throws: AgentError.self) { try await TestAgent.enroll(server, name: "fifth", token: "pet_made_up") }
            #expect(try await server.count("devices") == 1, "no refused enrollment created a device")
            #expect(list["enrollmentTokens"]?.arrayValue?.allSatisfy { $0.objectValue?["token"] == nil } == true, "lists never show secrets")
        }
    }

    @Test(arguments: StoreEngine.available)
    func retiredDeviceIsRefusedWithACodeTheAgentUnderstands(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let agent = try await TestAgent.enroll(server, name: "alpha", token: token)
            try await agent.sync()
            #expect(try await server.api(.DELETE, "/api/v1/devices/\(agent.deviceId)").status == 204)
            do {
                try await agent.sync()
                Issue.record("a retired device checked in")
            } catch let error as AgentError {
                guard case .retired(let device, let message) = error else {
                    Issue.record("expected .retired, got \(error)")
                    return
                }
                #expect(device == agent.deviceId)
                #expect(message.contains("retired"))
            }
            #expect(try agent.agent.state.health().retired)
            let device = try await server.api(.GET, "/api/v1/devices/\(agent.deviceId)")
            #expect(device["enrollmentStatus"] == "retired")
        }
    }

    @Test(arguments: StoreEngine.available)
    func replayedOrTamperedDeviceRequestsAreRefused(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let agent = try await TestAgent.enroll(server, name: "alpha", token: token)
            let pem = try #require(agent.agent.state.privateKeyPEM())
            let signer = try await DeviceAssertionSigner(deviceId: agent.deviceId, privateKeyPEM: pem)
            let body = Array(try CanonicalJSON.data(DeviceProtocol.CheckInRequest(configurationHash: nil)))
            let header = try await signer.authorizationHeader(method: "POST", path: "/device/v1/check-in", body: body)

            let first = try await deviceRequest(server, "/device/v1/check-in", body: body, authorization: header)
            #expect(first.status == 200)
            let replay = try await deviceRequest(server, "/device/v1/check-in", body: body, authorization: header)
            #expect(replay.status == 401)
            #expect(replay.errorCode == "assertion_replayed")

            let fresh = try await signer.authorizationHeader(method: "POST", path: "/device/v1/check-in", body: body)
            let tampered = Array(try CanonicalJSON.data(DeviceProtocol.CheckInRequest(configurationHash: "sha256:forged")))
            let mismatch = try await deviceRequest(server, "/device/v1/check-in", body: tampered, authorization: fresh)
            #expect(mismatch.status == 401)
            #expect(mismatch.errorCode == "assertion_invalid")
            #expect(mismatch.errorMessage?.contains("body") == true)

            let otherPath = try await signer.authorizationHeader(method: "POST", path: "/device/v1/reports", body: body)
            let wrongPath = try await deviceRequest(server, "/device/v1/check-in", body: body, authorization: otherPath)
            #expect(wrongPath.errorCode == "assertion_invalid")

            let stranger = try await DeviceAssertionSigner(deviceId: agent.deviceId, privateKeyPEM: DeviceKeyPair.generate().privateKeyPEM)
            let wrongKey = try await deviceRequest(server, "/device/v1/check-in", body: body, authorization: try await stranger.authorizationHeader(method: "POST", path: "/device/v1/check-in", body: body))
            #expect(wrongKey.errorCode == "assertion_invalid")

            let none = try await deviceRequest(server, "/device/v1/check-in", body: body, authorization: nil)
            #expect(none.status == 401)

            // The header, the device and the signature are judged before the body is read: an
            // unauthenticated 2 MB body is a 401, not a 413 after buffering a megabyte.
            let large = Array(repeating: UInt8(ascii: " "), count: 2 << 20)
            let anonymous = try await deviceRequest(server, "/device/v1/check-in", body: large, authorization: nil)
            #expect(anonymous.status == 401)
            let forged = try await deviceRequest(server, "/device/v1/check-in", body: large, authorization: try await stranger.authorizationHeader(method: "POST", path: "/device/v1/check-in", body: large))
            #expect(forged.status == 401)
            #expect(forged.errorMessage?.contains("signature") == true)
            let signed = try await deviceRequest(server, "/device/v1/check-in", body: large, authorization: try await signer.authorizationHeader(method: "POST", path: "/device/v1/check-in", body: large))
            #expect(signed.status == 413, "a verified device still cannot send more than the limit")
        }
    }

    @Test(arguments: StoreEngine.available)
    func resentStatusReportChangesNothing(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, policy) = try await TestAgent.enrolledWithPolicy(server, name: "alpha", settings: ["cloudService.enabled": true])
            guard case .applied(let report) = try await agent.sync() else {
                Issue.record("expected a configuration")
                return
            }
            let before = try await server.sql { sql in
                try await sql.raw("SELECT results, reported_at FROM device_reports").first()!.decode(column: "reported_at", as: Int64.self)
            }
            let pem = try #require(agent.agent.state.privateKeyPEM())
            let signer = try await DeviceAssertionSigner(deviceId: agent.deviceId, privateKeyPEM: pem)
            let body = Array(try CanonicalJSON.data(report))
            let resent = try await deviceRequest(server, "/device/v1/reports", body: body,
                                                 authorization: try await signer.authorizationHeader(method: "POST", path: "/device/v1/reports", body: body))
            #expect(resent.status == 200)
            #expect(resent["current"] == true)
            let after = try await server.sql { sql in
                try await sql.raw("SELECT reported_at FROM device_reports").first()!.decode(column: "reported_at", as: Int64.self)
            }
            #expect(before == after)
            #expect(try await server.report(policy)["summary"]?.objectValue?["succeeded"] == 1)
        }
    }

    func problem(_ response: TestServer.APIResponse) -> [String: JSONValue]? {
        response.body.objectValue?["error"]?.objectValue?["details"]?.objectValue?["problems"]?.arrayValue?.first?.objectValue
    }

    func deviceRequest(_ server: TestServer, _ path: String, body: [UInt8], authorization: String?) async throws -> TestServer.APIResponse {
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.method = .POST
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return TestServer.APIResponse(status: Int(response.status.code), body: try JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView)))
    }
}

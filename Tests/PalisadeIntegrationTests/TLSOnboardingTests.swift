import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// HTTPS with the server's private CA, onboarding packages, and an agent that trusts exactly
/// the CA it pinned: real TLS on loopback, real keys, real files.
@Suite struct TLSOnboardingTests {
    @Test(arguments: StoreEngine.available)
    func anAgentEnrolledFromAPackageTalksHTTPSToThePinnedCA(engine: StoreEngine) async throws {
        try await TestServer.with(engine, tls: true) { server in
            #expect(server.baseURL.hasPrefix("https://"))
            let answer = try await server.api(.POST, "/api/v1/onboarding-packages", ["platform": "linux", "name": "lab", "expiresInHours": 1, "maxUses": 2])
            #expect(answer.status == 201, "\(answer.body)")
            let ca = try #require(server.ca)
            #expect(answer["format"]?.stringValue == OnboardingPackage.currentFormat)
            #expect(answer["serverURL"]?.stringValue == server.baseURL)
            #expect(answer["caSHA256"]?.stringValue == ca.sha256)
            #expect(answer["caCertificate"]?.stringValue == ca.certificatePEM)
            #expect(answer["tenantId"]?.stringValue?.isEmpty == false)
            #expect(answer["enrollmentToken"]?.stringValue?.hasPrefix("pet_") == true)
            let commands = answer["installCommand"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(commands.contains { $0.contains("palisade agent enroll --package /etc/palisade/package.json --state-dir /var/lib/palisade") })
            #expect(commands.last == "sudo /usr/local/bin/palisade agent install-service --state-dir /var/lib/palisade", "the agent runs as a service")
            #expect(!commands.joined().contains("--insecure-http"))
            #expect(!commands.joined().contains(answer["enrollmentToken"]?.stringValue ?? "-"), "the secret stays in the package file, out of command lines")

            // The answer is the package file: the agent enrolls from it over HTTPS.
            let file = try Self.save(answer.body, in: server.directory)
            let agent = try await Self.enrollFromPackage(server, name: "alpha", file: file)
            let state = agent.agent.state
            #expect(try state.enrollment()?.caSHA256 == ca.sha256)
            #expect(try state.enrollment()?.serverURL == server.baseURL)
            #expect(state.pinnedCAPEM() == ca.certificatePEM)
            #expect(try fileMode(state.path + "/server-ca.pem") == 0o600)
            #expect(try fileMode(state.path + "/device-key.pem") == 0o600)
            #expect(try fileMode(state.path) == 0o700)

            // Check-in and report, over the pinned TLS.
            let group = try await server.createGroup("g", members: [agent.deviceId])
            let policy = try await server.createPolicy("AV", settings: ["cloudService.enabled": true])
            try await server.assign(policy, include: [group])
            guard case .applied(let report) = try await agent.sync() else {
                Issue.record("the configuration was not delivered")
                return
            }
            #expect(report.results.map(\.state) == [.succeeded])
            #expect(try agent.managedValue("cloudService.enabled") == true)
            #expect(try await server.report(policy)["summary"]?.objectValue?["succeeded"] == 1)
            #expect(try await agent.sync() == .unchanged(hash: report.configurationHash))
        }
    }

    @Test func httpsAnswersCarryStrictTransportSecurityAndPackagesAreNotCached() async throws {
        try await TestServer.with(.sqlite, tls: true) { server in
            let health = try await Self.headers(server, .GET, "/api/v1/health")
            #expect(health.status == 200)
            #expect(health.headers["Strict-Transport-Security"].first == "max-age=31536000")
            let missing = try await Self.headers(server, .GET, "/api/v1/nothing-here")
            #expect(missing.status == 404)
            #expect(missing.headers["Strict-Transport-Security"].first == "max-age=31536000", "error answers too")
            let package = try await Self.headers(server, .POST, "/api/v1/onboarding-packages", body: #"{"platform":"macos","name":"lab","expiresInHours":1}"#)
            #expect(package.status == 201)
            #expect(package.headers["Cache-Control"].first == "no-store")
        }
        try await TestServer.with(.sqlite) { server in
            let health = try await Self.headers(server, .GET, "/api/v1/health")
            #expect(health.headers["Strict-Transport-Security"].isEmpty, "plain HTTP (behind a proxy) leaves HSTS to the proxy")
        }
    }

    @Test func theAgentRefusesAServerWhoseCertificateDoesNotChainToThePinnedCA() async throws {
        try await TestServer.with(.sqlite, tls: true) { home in
            let homeCA = try #require(home.ca)
            let answer = try await home.api(.POST, "/api/v1/onboarding-packages", ["platform": "linux", "name": "lab", "expiresInHours": 1])
            let file = try Self.save(answer.body, in: home.directory)
            let agent = try await Self.enrollFromPackage(home, name: "alpha", file: file)
            try await agent.sync()

            try await TestServer.with(.sqlite, tls: true) { impostor in
                #expect(impostor.ca?.sha256 != homeCA.sha256, "another server, another CA")
                // The enrolled agent is sent to the impostor (a DNS or routing attack).
                let state = agent.agent.state
                var enrollment = try #require(try state.enrollment())
                enrollment.serverURL = impostor.baseURL
                try state.save(enrollment)
                do {
                    _ = try await agent.sync()
                    Issue.record("the agent talked to a server outside its pinned CA")
                } catch let error as AgentError {
                    guard case .untrustedServer(let url, let pinned, _) = error else {
                        Issue.record("unexpected error: \(error)")
                        return
                    }
                    #expect(url == impostor.baseURL)
                    #expect(pinned == homeCA.sha256)
                    #expect(error.description.contains("refusing \(impostor.baseURL): its certificate does not chain to the pinned CA (SHA-256 \(homeCA.sha256))"), "\(error)")
                    #expect(error.isTransient, "the agent keeps its configuration and tries again later")
                }
                #expect(try await impostor.count("device_reports") == 0)

                // The run loop records the refusal in the agent's health and keeps going.
                let running = Task { try await agent.agent.run() }
                try await waitUntil { try state.health().consecutiveFailures >= 2 }
                #expect(try state.health().lastError?.contains("does not chain to the pinned CA") == true)
                running.cancel()
                try await running.value

                // A package of the home server pointed at the impostor enrolls nothing there.
                var package = try PalisadeAgent.readPackage(at: file)
                package.serverURL = impostor.baseURL
                let other = PalisadeAgent(state: AgentStateDirectory(path: impostor.directory + "/agents/beta/state"), httpClient: TestAgent.httpClient, logger: TestServer.logger)
                await #expect(throws: AgentError.self) {
                    try await other.enroll(package: package, probe: Self.probe(impostor, name: "beta"))
                }
                #expect(try await impostor.count("devices") == 0)
            }
        }
    }

    @Test func aPackageWhoseCAWasChangedIsRefused() async throws {
        try await TestServer.with(.sqlite, tls: true) { server in
            let answer = try await server.api(.POST, "/api/v1/onboarding-packages", ["platform": "linux", "name": "lab", "expiresInHours": 1])
            var package = try PalisadeAgent.readPackage(at: try Self.save(answer.body, in: server.directory))
            let other = try TestTLS.generated(in: server.directory + "/other-ca")
            package.caCertificate = other.ca.certificatePEM
            let agent = PalisadeAgent(state: AgentStateDirectory(path: server.directory + "/agents/alpha/state"), httpClient: TestAgent.httpClient, logger: TestServer.logger)
            do {
                _ = try await agent.enroll(package: package, probe: Self.probe(server, name: "alpha"))
                Issue.record("a package with a swapped CA was accepted")
            } catch let AgentError.invalidArgument(message) {
                #expect(message.contains("does not match its caSHA256"))
            }
            #expect(try await server.count("devices") == 0)
        }
    }

    /// A CA that is not well-formed PEM is refused with what is wrong with it, never enrolled
    /// under no pin at all.
    @Test func aCAThatIsNotWellFormedPEMIsRefusedSayingWhy() async throws {
        try await TestServer.with(.sqlite, tls: true) { server in
            let answer = try await server.api(.POST, "/api/v1/onboarding-packages", ["platform": "linux", "name": "lab", "expiresInHours": 1])
            var package = try PalisadeAgent.readPackage(at: try Self.save(answer.body, in: server.directory))
            let agent = PalisadeAgent(state: AgentStateDirectory(path: server.directory + "/agents/alpha/state"), httpClient: TestAgent.httpClient, logger: TestServer.logger)
            // Cut short on the way (its END line lost).
            package.caCertificate = package.caCertificate?.replacingOccurrences(of: "-----END CERTIFICATE-----", with: "")
            do {
                _ = try await agent.enroll(package: package, probe: Self.probe(server, name: "alpha"))
                Issue.record("a package with a truncated CA was accepted")
            } catch let AgentError.invalidArgument(message) {
                #expect(message == "the package's caCertificate holds no usable PEM certificate (not a well-formed PEM document: -----BEGIN CERTIFICATE----- has no -----END CERTIFICATE----- line after it); get a new package", "\(message)")
            }

            #expect(try await server.count("devices") == 0)

            // A CA file whose base64 lines are 76 characters long (as Windows tools write it):
            // OpenSSL reads it, and so does the pin, so it enrolls.
            let pem = try #require(server.ca?.certificatePEM)
            let base64 = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            var lines: [String] = []
            var rest = Substring(base64)
            while !rest.isEmpty {
                lines.append(String(rest.prefix(76)))
                rest = rest.dropFirst(76)
            }
            let rewrapped = (["-----BEGIN CERTIFICATE-----"] + lines + ["-----END CERTIFICATE-----"]).joined(separator: "\n") + "\n"
            _ = try await agent.enroll(serverURL: server.baseURL, token: try await server.createEnrollmentToken(), probe: Self.probe(server, name: "alpha"),
                                       trust: .pinned(rewrapped))
            #expect(try await server.count("devices") == 1)
        }
    }

    @Test func plainHTTPIsRefusedWithoutTheFlag() async throws {
        try await TestServer.with(.sqlite) { server in
            #expect(server.baseURL.hasPrefix("http://"))
            let token = try await server.createEnrollmentToken()
            let agent = PalisadeAgent(state: AgentStateDirectory(path: server.directory + "/agents/plain/state"), httpClient: TestAgent.httpClient, logger: TestServer.logger)
            let probe = Self.probe(server, name: "plain")
            await #expect(throws: AgentError.insecureServer(serverURL: server.baseURL)) {
                try await agent.enroll(serverURL: server.baseURL, token: token, probe: probe, trust: .systemRoots)
            }
            let someCA = try TestTLS.generated(in: server.directory + "/some-ca").ca
            await #expect(throws: AgentError.insecureServer(serverURL: server.baseURL)) {
                try await agent.enroll(serverURL: server.baseURL, token: token, probe: probe, trust: .pinned(someCA.certificatePEM))
            }
            #expect(AgentError.insecureServer(serverURL: server.baseURL).description.contains("--insecure-http"))
            #expect(try await server.count("devices") == 0, "nothing was sent")

            // A package of a plain-HTTP server has no CA and says --insecure-http in its commands;
            // the agent still needs the flag.
            let answer = try await server.api(.POST, "/api/v1/onboarding-packages", ["platform": "macos", "name": "lab", "expiresInHours": 1])
            #expect(answer.status == 201)
            #expect(answer["caCertificate"] == nil)
            #expect(answer["installCommand"]?.arrayValue?.compactMap(\.stringValue).contains { $0.contains("agent enroll --package") && $0.hasSuffix("--insecure-http") } == true)
            let package = try PalisadeAgent.readPackage(at: try Self.save(answer.body, in: server.directory))
            await #expect(throws: AgentError.insecureServer(serverURL: server.baseURL)) {
                try await agent.enroll(package: package, probe: probe)
            }
            let enrollment = try await agent.enroll(package: package, probe: probe, allowInsecureHTTP: true)
            #expect(enrollment.insecureHTTP == true)
            #expect(enrollment.caSHA256 == nil)

            // An enrollment made without the flag (an older state directory) is refused later too.
            var recorded = enrollment
            recorded.insecureHTTP = nil
            try agent.state.save(recorded)
            await #expect(throws: AgentError.insecureServer(serverURL: server.baseURL)) {
                try await agent.runCycle(waitSeconds: 0)
            }
        }
    }

    @Test(arguments: StoreEngine.available)
    func onboardingPackagesFromExistingTokensNeedTheirSecretAndAUsableToken(engine: StoreEngine) async throws {
        try await TestServer.with(engine, tls: true) { server in
            let created = try await server.must(.POST, "/api/v1/enrollment-tokens", ["name": "kept", "expiresInHours": 1, "maxUses": 1])
            let id = try #require(created.objectValue?["id"]?.stringValue)
            let secret = try #require(created.objectValue?["token"]?.stringValue)

            // The id with its secret: a package (200: nothing created), which enrolls.
            let ok = try await server.api(.POST, "/api/v1/onboarding-packages", ["platform": "windows", "enrollmentTokenId": .string(id), "enrollmentToken": .string(secret)])
            #expect(ok.status == 200, "\(ok.body)")
            #expect(ok["enrollmentToken"]?.stringValue == secret)
            #expect(ok["enrollmentTokenId"]?.stringValue == id)
            let commands = ok["installCommand"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(commands.contains { $0.contains("agent install-service --state-dir") })
            #expect(commands.contains { $0.contains("agent enroll --package") })

            func refusal(_ body: JSONValue, field: String?, saying text: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let answer = try await server.api(.POST, "/api/v1/onboarding-packages", body)
                #expect(answer.status == 400, "\(answer.body)", sourceLocation: sourceLocation)
                #expect(answer.errorCode == "invalid_request", sourceLocation: sourceLocation)
                #expect(answer.errorMessage?.contains(text) == true, "\(answer.errorMessage ?? "")", sourceLocation: sourceLocation)
                if let field {
                    #expect(answer["error"]?.objectValue?["details"]?.objectValue?["field"]?.stringValue == field, sourceLocation: sourceLocation)
                }
            }
            try await refusal(["platform": "linux", "enrollmentTokenId": "no-such-token", "enrollmentToken": .string(secret)],
                              field: "enrollmentTokenId", saying: "enrollment token no-such-token does not exist")
            try await refusal(["platform": "linux", "enrollmentTokenId": .string(id), "enrollmentToken": "pet_not_the_secret"],
                              field: "enrollmentToken", saying: "is not the secret of enrollment token \(id)")
            try await refusal(["platform": "linux", "enrollmentTokenId": .string(id)], field: "enrollmentToken", saying: "enrollmentToken (the secret shown when the token was created) is required")
            try await refusal(["platform": "linux", "enrollmentToken": .string(secret)], field: "enrollmentTokenId", saying: "enrollmentTokenId is required")
            try await refusal(["platform": "linux", "enrollmentTokenId": .string(id), "enrollmentToken": .string(secret), "name": "x"], field: nil, saying: "not both")
            try await refusal(["platform": "linux"], field: "name", saying: "name is required")
            try await refusal(["platform": "linux", "name": "x"], field: "expiresInHours", saying: "expiresInHours is required")
            let badPlatform = try await server.api(.POST, "/api/v1/onboarding-packages", ["platform": "solaris", "name": "x", "expiresInHours": 1])
            #expect(badPlatform.status == 400)

            // Another tenant's token is unknown here, even with its secret.
            let other = try await server.store.createTenant(name: "other")
            let foreign = try await server.must(.POST, "/api/v1/enrollment-tokens", ["name": "theirs", "expiresInHours": 1], token: other.ownerToken)
            try await refusal(["platform": "linux", "enrollmentTokenId": .string(foreign.objectValue?["id"]?.stringValue ?? ""), "enrollmentToken": .string(foreign.objectValue?["token"]?.stringValue ?? "")],
                              field: "enrollmentTokenId", saying: "does not exist in this tenant")

            // Used up, expired, revoked: refused with the reason.
            let package = try PalisadeAgent.readPackage(at: try Self.save(ok.body, in: server.directory))
            _ = try await Self.enroll(server, name: "first", package: package)
            try await refusal(["platform": "linux", "enrollmentTokenId": .string(id), "enrollmentToken": .string(secret)],
                              field: "enrollmentTokenId", saying: "has been used 1 of 1 times")

            let expiring = try await server.must(.POST, "/api/v1/enrollment-tokens", ["name": "expiring", "expiresInHours": 1])
            let expiringId = try #require(expiring.objectValue?["id"]?.stringValue)
            try await server.store.backend.write(lockKey: "test") { sql in
                try await sql.raw("UPDATE enrollment_tokens SET expires_at = 1000 WHERE id = \(bind: expiringId)").run()
            }
            try await refusal(["platform": "linux", "enrollmentTokenId": .string(expiringId), "enrollmentToken": .string(expiring.objectValue?["token"]?.stringValue ?? "")],
                              field: "enrollmentTokenId", saying: "expired at 1970-01-01")

            let revoked = try await server.must(.POST, "/api/v1/enrollment-tokens", ["name": "revoked", "expiresInHours": 1])
            let revokedId = try #require(revoked.objectValue?["id"]?.stringValue)
            #expect(try await server.api(.DELETE, "/api/v1/enrollment-tokens/\(revokedId)").status == 204)
            try await refusal(["platform": "linux", "enrollmentTokenId": .string(revokedId), "enrollmentToken": .string(revoked.objectValue?["token"]?.stringValue ?? "")],
                              field: "enrollmentTokenId", saying: "was revoked")

            // A new token's limits are the enrollment-token endpoint's.
            try await refusal(["platform": "linux", "name": "x", "expiresInHours": 0], field: "expiresInHours", saying: "expiresInHours must be from 1")
            let unauthenticated = try await server.api(.POST, "/api/v1/onboarding-packages", ["platform": "linux", "name": "x", "expiresInHours": 1], token: "pat_wrong")
            #expect(unauthenticated.status == 401)
        }
    }

    // MARK: Helpers

    /// Saves a package answer as the admin would (`curl ... > palisade-package.json`).
    static func save(_ package: JSONValue, in directory: String) throws -> String {
        let path = directory + "/palisade-package-\(UUID().uuidString.prefix(8)).json"
        try Data(CanonicalJSON.data(package)).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func probe(_ server: TestServer, name: String) -> DeviceInventoryProbe {
        DeviceInventoryProbe(root: EnforcementRoot(server.directory + "/agents/\(name)/root"), platform: .linux, hostname: name, hardwareId: "hw-\(name)", tags: [])
    }

    static func enroll(_ server: TestServer, name: String, package: OnboardingPackage) async throws -> TestAgent {
        let base = server.directory + "/agents/\(name)"
        let tools = try DefenderStandIn(directory: base + "/tools", platform: .linux, answer: DefenderStandIn.healthyLinux)
        let agent = PalisadeAgent(state: AgentStateDirectory(path: base + "/state"), httpClient: TestAgent.httpClient,
                                  options: .init(waitSeconds: 0, backoffBase: .milliseconds(10), backoffMaximum: .milliseconds(50), minimumInterval: .milliseconds(50),
                                                 defenderMaximumAge: .zero, toolSearchPath: [tools.directory]),
                                  clock: server.store.clock, logger: TestServer.logger)
        let enrollment = try await agent.enroll(package: package, probe: probe(server, name: name))
        return TestAgent(agent: agent, root: base + "/root", deviceId: enrollment.deviceId, tools: tools)
    }

    static func enrollFromPackage(_ server: TestServer, name: String, file: String) async throws -> TestAgent {
        try await enroll(server, name: name, package: try PalisadeAgent.readPackage(at: file))
    }

    static func headers(_ server: TestServer, _ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> (status: Int, headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.method = method
        request.tlsConfiguration = try server.clientTLS()
        request.headers.add(name: "Authorization", value: "Bearer \(server.adminToken)")
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers)
    }
}

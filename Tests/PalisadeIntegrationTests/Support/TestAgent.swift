import AsyncHTTPClient
import Foundation
import Logging
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// The real agent code with its state directory and enforcement root under a temporary
/// directory.
struct TestAgent: Sendable {
    /// Shared by every test agent. A stopped server refuses connections at once; the timeout
    /// only bounds a connection that hangs, and leaves room for a TLS handshake on a loaded
    /// two-core machine (300 ms did not: parallel tests timed out connecting).
    static let httpClient = HTTPClient.palisadeAgent(connectTimeout: .seconds(3))

    let agent: PalisadeAgent
    let root: String
    let deviceId: String
    /// The directory on the agent's tool path: holds the Defender stand-in, if any.
    var tools: DefenderStandIn

    /// `defender`: what the stand-in for Defender's tool answers (nil: no tool, as on a device
    /// without Defender). Readings are not cached, so each cycle sees the current answer.
    static func enroll(_ server: TestServer, name: String, token: String, platform: DevicePlatform = .linux, tags: [String] = [],
                       defender: JSONValue? = DefenderStandIn.healthyLinux, toolTimeout: Duration = .seconds(10), defenderMaximumAge: Duration = .zero,
                       httpClient: HTTPClient = Self.httpClient) async throws -> TestAgent {
        let base = server.directory + "/agents/\(name)"
        let tools = try DefenderStandIn(directory: base + "/tools", platform: platform, answer: defender)
        let agent = PalisadeAgent(state: AgentStateDirectory(path: base + "/state"), httpClient: httpClient,
                                  options: .init(waitSeconds: 0, backoffBase: .milliseconds(10), backoffMaximum: .milliseconds(50), minimumInterval: .milliseconds(50),
                                                 defenderMaximumAge: defenderMaximumAge, toolTimeout: toolTimeout, toolSearchPath: [tools.directory]),
                                  clock: server.store.clock, logger: TestServer.logger)
        let probe = DeviceInventoryProbe(root: EnforcementRoot(base + "/root"), platform: platform, hostname: name, hardwareId: "hw-\(name)", tags: tags)
        // Pinned to the server's CA over HTTPS; plain HTTP test servers need the agent's consent.
        let trust: ServerTrust = server.ca.map { .pinned($0.certificatePEM) } ?? .insecureHTTP
        let enrollment = try await agent.enroll(serverURL: server.baseURL, token: token, probe: probe, trust: trust)
        return TestAgent(agent: agent, root: base + "/root", deviceId: enrollment.deviceId, tools: tools)
    }

    /// The common starting point: one enrolled agent, alone in a static group, with one policy
    /// assigned to that group.
    static func enrolledWithPolicy(_ server: TestServer, name: String = "alpha", settings: JSONValue = ["cloudService.enabled": true],
                                   httpClient: HTTPClient = Self.httpClient) async throws -> (agent: TestAgent, group: String, policy: String) {
        let agent = try await enroll(server, name: name, token: try await server.createEnrollmentToken(), httpClient: httpClient)
        let group = try await server.createGroup("g", members: [agent.deviceId])
        let policy = try await server.createPolicy("AV", settings: settings)
        try await server.assign(policy, include: [group])
        return (agent, group, policy)
    }

    var managedFilePath: String { root + "/" + LinuxManagedJSONRenderer.relativePath }

    /// The managed file as JSON, or nil when there is none.
    func managedFile() throws -> JSONValue? {
        guard FileManager.default.fileExists(atPath: managedFilePath) else { return nil }
        return try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: managedFilePath)))
    }

    func managedValue(_ keyPath: String) throws -> JSONValue? {
        guard let document = try managedFile() else { return nil }
        return LinuxManagedJSONRenderer.settings(in: document, ids: [keyPath])[keyPath]
    }

    @discardableResult
    func sync() async throws -> PalisadeAgent.CycleOutcome {
        try await agent.runCycle(waitSeconds: 0)
    }

    /// Starts a long-polling check-in, makes `change` once the check-in is parked on `server`,
    /// and returns what the cycle did and how long it took.
    func checkIn(parkedOn server: TestServer, waitSeconds: Int = 30, whileChanging change: @Sendable () async throws -> Void) async throws -> (PalisadeAgent.CycleOutcome, Duration) {
        let clock = ContinuousClock()
        let started = clock.now
        async let outcome = agent.runCycle(waitSeconds: waitSeconds)
        // Up to 15 s for the check-in to park: a loaded two-core machine took more than 4 s.
        for _ in 0..<750 where await server.store.notifier.subscriberCount == 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(await server.store.notifier.subscriberCount == 1, "the check-in is parked on the server")
        try await change()
        let result = try await outcome
        return (result, clock.now - started)
    }

    /// Keeps a copy of the managed file for the schema check that CI runs with jschon.
    func keepArtifact(_ label: String) throws {
        guard let directory = ProcessInfo.processInfo.environment["PALISADE_ARTIFACTS_DIR"],
              FileManager.default.fileExists(atPath: managedFilePath) else { return }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = directory + "/\(label)-\(UUID().uuidString.prefix(8)).json"
        try FileManager.default.copyItem(atPath: managedFilePath, toPath: target)
    }
}

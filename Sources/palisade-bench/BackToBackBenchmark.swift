import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import ServiceLifecycle

/// Issue 12: "a change made a second after the previous one reaches a running agent within 2 s".
/// A server over HTTPS (its own private CA) on a SQLite file, and one real agent with its
/// default options (60 s long-poll, 5 s minimum interval) running its loop on a Linux
/// enforcement root in a temporary directory. The policy changes through the admin API a
/// second after the previous change arrived, `changes` times; each change is timed from just
/// before the API call until the agent has written the new value to Defender's managed file,
/// and until the server has acknowledged the agent's report of it.
enum BackToBackBenchmark {
    static func run(changes: Int, databaseURL: String?) async throws {
        let logger = {
            // Quiet: stopping at the end cancels the agent's poll and the server's channels.
            var logger = Logger(label: "palisade.bench")
            logger.logLevel = .critical
            return logger
        }()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("palisade-bench-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let location: DatabaseLocation = databaseURL.map { .postgres(url: $0) } ?? .sqlite(path: directory + "/palisade.sqlite")
        let tls = try ServerTLSFiles.prepare(directory: directory + "/tls", subjectAltNames: [])

        try await Database.with(location, logger: logger) { backend in
            let store = PalisadeStore(backend: backend, logger: logger)
            try await store.migrate()
            let owner = try await store.bootstrapIfEmpty()?.ownerToken ?? ""
            let (ports, portFound) = AsyncStream<Int>.makeStream()
            let configuration = ServerConfiguration(host: "127.0.0.1", port: 0, dataDirectory: nil, databaseURL: nil, tls: tls.tls, agentCA: tls.ca)
            let application = try buildApplication(store: store, configuration: configuration, logger: logger, onServerRunning: { channel in
                portFound.yield(channel.localAddress?.port ?? 0)
                portFound.finish()
            })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await application.run() }
                defer { group.cancelAll() }
                var portIterator = ports.makeAsyncIterator()
                guard let port = await portIterator.next() else { return }
                let base = "https://127.0.0.1:\(port)"
                let admin = AdminClient(base: base, token: owner, ca: tls.ca.certificatePEM)
                let agentClient = HTTPClient.palisadeAgent()
                do {
                    try await measure(changes: changes, base: base, admin: admin, agentClient: agentClient, ca: tls.ca.certificatePEM,
                                      directory: directory, sqlite: databaseURL == nil, logger: logger)
                } catch {
                    try? await admin.client.shutdown()
                    try? await agentClient.shutdown()
                    throw error
                }
                try await admin.client.shutdown()
                try await agentClient.shutdown()
            }
        }
    }

    static func measure(changes: Int, base: String, admin: AdminClient, agentClient: HTTPClient, ca: String, directory: String, sqlite: Bool, logger: Logger) async throws {
        let token = try await admin.call("POST", "/api/v1/enrollment-tokens", ["name": "bench", "expiresInHours": 1, "maxUses": 1])["token"]?.stringValue ?? ""
        let agent = PalisadeAgent(state: AgentStateDirectory(path: directory + "/agent/state"), httpClient: agentClient, logger: logger)
        let root = directory + "/agent/root"
        let enrollment = try await agent.enroll(serverURL: base, token: token,
                                                probe: DeviceInventoryProbe(root: EnforcementRoot(root), platform: .linux, hostname: "bench", hardwareId: "hw-bench"),
                                                trust: .pinned(ca))
        let groupId = try await admin.call("POST", "/api/v1/groups", ["name": "bench", "members": [.string(enrollment.deviceId)]])["id"]?.stringValue ?? ""
        let levels = ["moderate", "high", "high_plus", "zero_tolerance", "normal"]
        func policy(_ level: String) -> JSONValue {
            ["name": "bench", "platform": "linux", "template": "antivirus", "settings": ["cloudService.enabled": true, "cloudService.cloudBlockLevel": .string(level)]]
        }
        let policyId = try await admin.call("POST", "/api/v1/policies", policy("normal"))["id"]?.stringValue ?? ""
        _ = try await admin.call("PUT", "/api/v1/policies/\(policyId)/assignments", ["include": [.string(groupId)]])

        // The agent runs beside the measurement and is cancelled (and waited for) when it ends.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await agent.run() }
            defer { group.cancelAll() }
            let managedFile = root + "/" + LinuxManagedJSONRenderer.relativePath
            func applied(_ level: String) -> Bool {
                guard let data = FileManager.default.contents(atPath: managedFile),
                      let document = try? JSONDecoder().decode(JSONValue.self, from: data) else { return false }
                return LinuxManagedJSONRenderer.settings(in: document, ids: ["cloudService.cloudBlockLevel"])["cloudService.cloudBlockLevel"] == .string(level)
            }
            // The agent keeps its report of what it applied until the server acknowledged it.
            func reported(_ level: String) throws -> Bool {
                guard let current = try agent.state.applied(), current.configuration.settings["cloudService.cloudBlockLevel"] == .string(level) else { return false }
                return try agent.state.pendingReport() == nil
            }
            let clock = ContinuousClock()
            func wait(_ condition: () throws -> Bool, limit: Duration = .seconds(30)) async throws -> Duration? {
                let started = clock.now
                while clock.now - started < limit {
                    if try condition() { return clock.now - started }
                    try await Task.sleep(for: .milliseconds(2))
                }
                return nil
            }
            guard try await wait({ applied("normal") }) != nil else {
                print("the first configuration did not arrive within 30 s")
                return
            }

            var appliedTimes: [Double] = []
            var reportedTimes: [Double] = []
            for index in 0..<changes {
                try await Task.sleep(for: .seconds(1))
                let level = levels[index % levels.count]
                let started = clock.now
                _ = try await admin.call("PUT", "/api/v1/policies/\(policyId)", policy(level))
                guard try await wait({ applied(level) }) != nil else {
                    print("change \(index + 1) did not arrive within 30 s")
                    return
                }
                appliedTimes.append((clock.now - started).seconds)
                _ = try await wait({ try reported(level) }, limit: .seconds(30))
                reportedTimes.append((clock.now - started).seconds)
            }
            group.cancelAll()
            try? await group.waitForAll()
            func figures(_ samples: [Double]) -> String {
                let sorted = samples.sorted()
                func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)] }
                return String(format: "p50 %.3f s, p99 %.3f s, max %.3f s", at(0.5), at(0.99), sorted.last ?? 0)
            }
            print("back-to-back changes (\(changes), each a second after the previous one arrived; \(sqlite ? "SQLite" : "PostgreSQL"), HTTPS, one agent with default options):")
            print("  applied on the device: \(figures(appliedTimes))")
            print("  report acknowledged:   \(figures(reportedTimes))")
            print("  target: within 2 s -> \(appliedTimes.max() ?? 99 < 2 ? "met" : "missed")")
        }
    }

    /// The admin API with the owner token, trusting exactly the benchmark's CA.
    struct AdminClient {
        let base: String
        let token: String
        let client: HTTPClient

        init(base: String, token: String, ca: String) {
            self.base = base
            self.token = token
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates((try? NIOSSLCertificate.fromPEMBytes(Array(ca.utf8))) ?? [])
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        }

        func call(_ method: String, _ path: String, _ body: JSONValue) async throws -> [String: JSONValue] {
            var request = HTTPClientRequest(url: base + path)
            request.method = .init(rawValue: method)
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try CanonicalJSON.data(body)))
            let response = try await client.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(response.status.code) else {
                throw BenchmarkFailure("\(method) \(path) answered \(response.status.code): \(String(buffer: bytes))")
            }
            return (try? JSONDecoder().decode(JSONValue.self, from: Data(bytes.readableBytesView)))?.objectValue ?? [:]
        }
    }

    struct BenchmarkFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

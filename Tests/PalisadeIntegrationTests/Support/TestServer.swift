import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PalisadeCore
import PalisadeServer
import PostgresNIO
import SQLKit
import Testing

/// The store engines every integration suite runs against. PostgreSQL is included when
/// PALISADE_TEST_POSTGRES_URL names a server (`.ci/run` starts one and always sets it).
enum StoreEngine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static var available: [StoreEngine] {
        ProcessInfo.processInfo.environment["PALISADE_TEST_POSTGRES_URL"] == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    var testDescription: String { rawValue }
}

/// A real Palisade server on a loopback port over a real store: a SQLite file in a temporary
/// directory, or a fresh PostgreSQL database.
struct TestServer: Sendable {
    let baseURL: String
    let store: PalisadeStore
    let adminToken: String
    let directory: String
    /// The CA the server's certificate chains to (nil: plain HTTP).
    var ca: PinnedCA? = nil
    /// Every API call on a connection of its own (`Connection: close`): for a server with a
    /// short idle timeout, which could close a pooled connection just as a call reuses it.
    var closesConnections = false

    static let logger: Logger = {
        var logger = Logger(label: "palisade.test")
        logger.logLevel = ProcessInfo.processInfo.environment["PALISADE_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return logger
    }()

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("palisade-test-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Starts a server, runs `body`, stops the server. `tls: true` serves HTTPS with a private
    /// CA generated in the server's directory (`directory/tls`), as `palisade serve` does.
    static func with<T: Sendable>(_ engine: StoreEngine, clock: any WallClock = SystemWallClock(), tls: Bool = false, idleTimeout: TimeAmount? = nil,
                                  metricsPublic: Bool = false, deviceRateLimits: DeviceRateLimits = .init(), checkInSchedule: DeviceProtocol.CheckInSchedule? = nil,
                                  statements: StatementLog? = nil, _ body: @Sendable (TestServer) async throws -> T) async throws -> T {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let location: DatabaseLocation = switch engine {
        case .sqlite: .sqlite(path: directory + "/palisade.sqlite")
        case .postgres: .postgres(url: try await createPostgresDatabase())
        }
        // With a statement log, the database's connections log every statement to it.
        return try await Database.with(location, logger: statements?.logger ?? logger) { backend in
            // bcrypt at its lowest cost: the suite signs in often on two cores.
            let store = PalisadeStore(backend: backend, clock: clock, passwordHashCost: 4, logger: logger)
            try await store.migrate()
            let credentials = try #require(try await store.bootstrapIfEmpty())
            let served = try tls ? TestTLS.generated(in: directory + "/tls") : nil
            return try await serve(store, adminToken: credentials.ownerToken, directory: directory, tls: served, idleTimeout: idleTimeout, metricsPublic: metricsPublic,
                                   deviceRateLimits: deviceRateLimits, checkInSchedule: checkInSchedule, body)
        }
    }

    /// Several replicas (each its own process-like store, notifier and HTTP server) sharing
    /// one PostgreSQL database, started together.
    static func withReplicas<T: Sendable>(_ count: Int, _ body: @Sendable ([TestServer]) async throws -> T) async throws -> T {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let url = try await createPostgresDatabase()
        @Sendable func start(_ index: Int, _ running: [TestServer]) async throws -> T {
            if index == count { return try await body(running) }
            return try await Database.with(.postgres(url: url), logger: logger) { backend in
                let store = PalisadeStore(backend: backend, logger: logger)
                try await store.migrate()
                let token = try await store.bootstrapIfEmpty()?.ownerToken ?? running.first?.adminToken
                return try await serve(store, adminToken: try #require(token), directory: directory) { server in
                    try await start(index + 1, running + [server])
                }
            }
        }
        return try await start(0, [])
    }

    static func serve<T: Sendable>(_ store: PalisadeStore, adminToken: String, directory: String, tls: TestTLS? = nil, idleTimeout: TimeAmount? = nil,
                                   metricsPublic: Bool = false, deviceRateLimits: DeviceRateLimits = .init(), checkInSchedule: DeviceProtocol.CheckInSchedule? = nil,
                                   _ body: @Sendable (TestServer) async throws -> T) async throws -> T {
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, dataDirectory: nil, databaseURL: nil, tls: tls?.server, agentCA: tls?.ca)
        if let idleTimeout { configuration.idleTimeout = idleTimeout }
        configuration.metricsPublic = metricsPublic
        configuration.deviceRateLimits = deviceRateLimits
        configuration.checkInSchedule = checkInSchedule
        let app = try buildApplication(
            store: store, configuration: configuration,
            logger: logger, onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = portStream.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let server = TestServer(baseURL: "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)", store: store, adminToken: adminToken, directory: directory, ca: tls?.ca)
            defer { group.cancelAll() }
            return try await body(server)
        }
    }

    /// A fresh database on the test PostgreSQL server, so tests never see each other's data.
    static func createPostgresDatabase() async throws -> String {
        let adminURL = try #require(ProcessInfo.processInfo.environment["PALISADE_TEST_POSTGRES_URL"])
        let name = "palisade_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        try await Database.with(.postgres(url: adminURL), logger: logger) { backend in
            try await backend.read { sql in try await sql.raw("CREATE DATABASE \(ident: name)").run() }
        }
        var components = try #require(URLComponents(string: adminURL))
        components.path = "/" + name
        return try #require(components.string)
    }

    // MARK: Admin API

    struct APIResponse: Sendable {
        let status: Int
        let body: JSONValue
        var headers: HTTPHeaders = [:]

        subscript(key: String) -> JSONValue? { body.objectValue?[key] }
        var errorCode: String? { body.objectValue?["error"]?.objectValue?["code"]?.stringValue }
        var errorMessage: String? { body.objectValue?["error"]?.objectValue?["message"]?.stringValue }
    }

    /// An admin API request with the owner token, another `token`, or (`headers` naming a
    /// cookie, `token: ""`) no token at all.
    func api(_ method: HTTPMethod, _ path: String, _ body: JSONValue = .null, token: String? = nil, headers: [String: String] = [:], rawBody: [UInt8]? = nil) async throws -> APIResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.tlsConfiguration = try clientTLS()
        if token != "" { request.headers.add(name: "Authorization", value: "Bearer \(token ?? adminToken)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if closesConnections { request.headers.replaceOrAdd(name: "Connection", value: "close") }
        if let rawBody {
            request.body = .bytes(ByteBuffer(bytes: rawBody))
        } else if body != .null {
            request.body = .bytes(ByteBuffer(bytes: try CanonicalJSON.data(body)))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        let data = Data(bytes.readableBytesView)
        let json = data.isEmpty ? JSONValue.null : (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .string(String(decoding: data, as: UTF8.self))
        return APIResponse(status: Int(response.status.code), body: json, headers: response.headers)
    }

    /// A client configuration trusting exactly this server's CA (nil for plain HTTP).
    func clientTLS() throws -> TLSConfiguration? {
        guard let ca else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
        return configuration
    }

    /// POST/PUT that must succeed; returns the body.
    @discardableResult
    func must(_ method: HTTPMethod, _ path: String, _ body: JSONValue = .null, token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let response = try await api(method, path, body, token: token)
        #expect((200..<300).contains(response.status), "\(method) \(path) answered \(response.status): \(response.body)", sourceLocation: sourceLocation)
        return response.body
    }

    func createEnrollmentToken(maxUses: Int? = nil, allowReenrollment: Bool = false) async throws -> String {
        var body: [String: JSONValue] = ["name": "test", "expiresInHours": 1, "allowReenrollment": .bool(allowReenrollment)]
        if let maxUses { body["maxUses"] = .integer(Int64(maxUses)) }
        let created = try await must(.POST, "/api/v1/enrollment-tokens", .object(body))
        return try #require(created.objectValue?["token"]?.stringValue)
    }

    func createGroup(_ name: String, members: [String]) async throws -> String {
        let group = try await must(.POST, "/api/v1/groups", ["name": .string(name), "members": .array(members.map(JSONValue.string))])
        return try #require(group.objectValue?["id"]?.stringValue)
    }

    func createPolicy(_ name: String, template: String = "antivirus", platform: String = "linux", settings: JSONValue) async throws -> String {
        let policy = try await must(.POST, "/api/v1/policies", ["name": .string(name), "platform": .string(platform), "template": .string(template), "settings": settings])
        return try #require(policy.objectValue?["id"]?.stringValue)
    }

    func assign(_ policy: String, include: [String], exclude: [String] = []) async throws {
        try await must(.PUT, "/api/v1/policies/\(policy)/assignments", ["include": .array(include.map(JSONValue.string)), "exclude": .array(exclude.map(JSONValue.string))])
    }

    func report(_ policy: String) async throws -> APIResponse {
        try await api(.GET, "/api/v1/policies/\(policy)/report")
    }

    /// Runs raw SQL on the server's store (to age a token, count rows).
    func sql<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await store.backend.read(body)
    }

    func count(_ table: String) async throws -> Int {
        try await sql { sql in try await sql.raw("SELECT COUNT(*) AS n FROM \(ident: table)").first()!.decode(column: "n", as: Int.self) }
    }
}

/// What a test server serves HTTPS with, and the CA agents pin.
struct TestTLS: Sendable {
    var server: ServerTLS
    var ca: PinnedCA

    /// A private CA and server certificate in `directory`, as `palisade serve` makes them.
    static func generated(in directory: String, subjectAltNames: [String] = []) throws -> TestTLS {
        let prepared = try ServerTLSFiles.prepare(directory: directory, subjectAltNames: subjectAltNames)
        return TestTLS(server: prepared.tls, ca: prepared.ca)
    }
}

extension HTTPMethodName {
    var nio: HTTPMethod {
        switch self {
        case .get: .GET
        case .post: .POST
        case .put: .PUT
        case .delete: .DELETE
        case .patch: .PATCH
        }
    }
}

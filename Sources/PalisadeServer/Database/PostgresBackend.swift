import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import NIOSSL
import PostgresKit
import PostgresNIO
import SQLKit
import ServiceLifecycle

/// PostgreSQL for several replicas: a pooled client; write transactions take a transaction-level
/// advisory lock per tenant so that concurrent recomputes of one tenant never interleave, and
/// migrations run under a session-level advisory lock so that replicas may start together.
public final class PostgresBackend: DatabaseBackend {
    public let kind = DatabaseKind.postgres
    /// Must be running (as a service, or in a task) while the backend is used.
    public let client: PostgresClient
    private let logger: Logger

    /// `password`, when given, replaces any password in `url`.
    public init(url: String, password: String? = nil, logger: Logger) throws {
        let configuration = try Self.configuration(url: url, password: password)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.address = configuration.host.map { ($0, configuration.port ?? 5432) }
        self.logger = logger
    }

    /// Parses `postgres://user[:password]@host:port/database?sslmode=disable|prefer|require[&sslrootcert=FILE]`.
    /// Without `sslmode`, a loopback host gets `prefer` and any other host `require`. TLS
    /// always verifies the server's certificate and name (against `sslrootcert`, or the
    /// system's roots): `require` here is what libpq calls `verify-full`. Messages never show
    /// the password.
    static func configuration(url: String, password: String? = nil) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw StoreError.configuration("cannot read the PostgreSQL URL \"\(DatabaseLocation.redacted(url))\" (expected postgres://user@host:port/database)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw StoreError.configuration("the PostgreSQL URL names no user (expected postgres://user@host/database)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let query = { (name: String) in components.queryItems?.first { $0.name == name }?.value }
        let sslMode = Self.sslMode(host: host, requested: query("sslmode"))
        var client = TLSConfiguration.makeClientConfiguration()
        if let rootCertificate = query("sslrootcert") {
            client.trustRoots = .file(rootCertificate)
        }
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(client)
        case "require", "verify-ca", "verify-full": tls = .require(client)
        default: throw StoreError.configuration("unknown sslmode \"\(sslMode)\" (use disable, prefer or require)")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user,
            password: password ?? components.password?.removingPercentEncoding, database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = 20
        // Bounded, so that an unreachable server fails requests (and a shutdown) promptly.
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }

    /// The URL's `sslmode`, else `prefer` on a loopback host and `require` on any other.
    static func sslMode(host: String, requested: String?) -> String {
        requested ?? (isLoopback(host) ? "prefer" : "require")
    }

    /// `localhost` and loopback addresses, where TLS protects nothing the host does not see anyway.
    static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// How long a request waits for a pooled connection before the server checks whether
    /// PostgreSQL accepts connections at all. While it is down the pool would queue requests
    /// until its circuit breaker trips (up to a minute); instead, a wait past this limit probes
    /// the server's port: refused (or no answer within `probeTimeout`) fails the request with
    /// `DatabaseUnreachable` (503 `database_unavailable`); accepted means the pool is only busy,
    /// and the request keeps waiting. A probe not answered in time counts only when the next
    /// one is not either (`unansweredProbesForUnreachable`): a stopped PostgreSQL is refused
    /// within about a second, a host gone from the network within about two. Only the wait for
    /// a connection is bounded, never a query.
    static let connectionWaitLimit: Duration = .milliseconds(500)
    static let probeTimeout: TimeAmount = .milliseconds(500)

    /// A pool that leased a connection within this window is busy, not cut off: its waiters
    /// keep waiting without a probe, which under load (an event loop slow to complete even a
    /// loopback connect) could otherwise fail and refuse a fleet's requests with 503 while
    /// PostgreSQL is fine.
    static let recentLeaseWindow: Duration = .seconds(1)

    /// Probes that timed out, in a row, before a waiting request is refused: a connect that
    /// is not answered within `probeTimeout` may be PostgreSQL's host gone from the network or
    /// only this process's event loops too busy to complete a loopback connect (seen as false
    /// 503s under load). Refused connections (PostgreSQL stopped) count at once.
    static let unansweredProbesForUnreachable = 2

    /// What this replica's requests found of PostgreSQL's reachability (the decisions; the
    /// waiting and probing are `withBoundedConnection`'s).
    private let reachability = NIOLockedValueBox(DatabaseReachability())
    private let address: (host: String, port: Int)?

    /// Whether PostgreSQL's port accepts a TCP connection now.
    func probe() async -> DatabaseReachability.ProbeResult {
        guard let address else { return .accepted }
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(Self.probeTimeout)
                .connect(host: address.host, port: address.port).get()
            channel.close(promise: nil)
            return .accepted
        } catch ChannelError.connectTimeout {
            return .unanswered
        } catch {
            return .refused
        }
    }

    /// `body` on a pooled connection, or `DatabaseUnreachable` when PostgreSQL does not accept
    /// connections (see `connectionWaitLimit`): the pool's lease races a timer that, each
    /// `connectionWaitLimit`, asks `DatabaseReachability` whether to probe, and probes.
    func withBoundedConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let unreachable = DatabaseUnreachable(database: "PostgreSQL")
        let reachability = self.reachability
        let (request, arrival) = reachability.withLockedValue { $0.requestArrived(at: .now) }
        defer { reachability.withLockedValue { $0.requestEnded(request) } }
        if arrival == .probe {
            let result = await probe()
            guard reachability.withLockedValue({ $0.probeAnswered(request, result, at: .now) }) == .keepWaiting else { throw unreachable }
        }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await self.client.withConnection { connection in
                    guard reachability.withLockedValue({ $0.connectionLeased(request, at: .now) }) == .useConnection else { throw unreachable }
                    return try await body(connection)
                }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: Self.connectionWaitLimit)
                    switch reachability.withLockedValue({ $0.waitLimitPassed(request, at: .now) }) {
                    case .stopWaiting: return nil
                    case .keepWaiting: continue
                    case .probe: break
                    }
                    let result = await self.probe()
                    switch reachability.withLockedValue({ $0.probeAnswered(request, result, at: .now) }) {
                    case .stopWaiting: return nil
                    case .keepWaiting: continue
                    case .refuseAsUnreachable: throw unreachable
                    }
                }
            }
            // Leaving the group on a throw cancels the other task (the pool request, or the timer).
            while let finished = try await group.next() {
                if let value = finished {
                    group.cancelAll()
                    return value
                }
            }
            throw unreachable
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await withBoundedConnection { connection in
            try await body(connection.sql())
        }
    }

    public func readSnapshot<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await withBoundedConnection { connection in
            try await connection.sql().transaction("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", body)
        }
    }

    public func write<T: Sendable>(lockKey: String, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            return try await withBoundedConnection { connection in
                try await connection.withTransaction(logger: logger) { connection in
                    let sql = connection.sql()
                    try await sql.raw("SELECT pg_advisory_xact_lock(hashtext(\(bind: lockKey)))").run()
                    return try await body(sql)
                }
            }
        } catch let error as PostgresTransactionError {
            // The transaction was rolled back; callers want the reason, not the wrapper.
            if let closureError = error.closureError, error.rollbackError == nil { throw closureError }
            throw error
        }
    }

    static let changeChannel = "palisade_configuration_changed"

    /// NOTIFY is transactional: listeners hear it only if the transaction commits. Payloads are
    /// comma-separated device ids, split to stay under PostgreSQL's 8000-byte limit.
    public func announceConfigurationChanges(_ deviceIds: Set<String>, on sql: any SQLDatabase) async throws {
        for chunk in deviceIds.sorted().chunked(150) {
            try await sql.raw("SELECT pg_notify(\(bind: Self.changeChannel), \(bind: chunk.joined(separator: ",")))").run()
        }
    }

    /// Device records (key, pending key, status, inventory) changed: same channel, payload
    /// `devices:` followed by the ids.
    public func announceDeviceRecordChanges(_ deviceIds: Set<String>, on sql: any SQLDatabase) async throws {
        for chunk in deviceIds.sorted().chunked(150) {
            try await sql.raw("SELECT pg_notify(\(bind: Self.changeChannel), \(bind: Self.deviceRecordPrefix + chunk.joined(separator: ",")))").run()
        }
    }

    static let deviceRecordPrefix = "devices:"

    /// The ids of a device record notification; nil for a configuration change.
    static func deviceRecordChanges(in payload: String) -> Set<String>? {
        guard payload.hasPrefix(deviceRecordPrefix) else { return nil }
        return Set(payload.dropFirst(deviceRecordPrefix.count).split(separator: ",").map(String.init))
    }

    public func close() async throws {}
}

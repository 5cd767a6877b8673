import Foundation
import Hummingbird
import NIOCore
import PalisadeCore
import SQLKit

/// Readiness (`GET /api/v1/ready`) and the Prometheus exposition (`GET /metrics`).
struct HealthController {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    /// The readiness probe gives up on the database after this long. An unreachable database
    /// is refused much sooner (the backend probes PostgreSQL's port after 0.5 s of waiting for
    /// a connection); this only bounds a database that accepts connections but does not answer,
    /// so a slow moment under load does not take a replica out of its load balancer.
    static let readinessTimeout: Duration = .seconds(10)

    struct Readiness: Encodable {
        var status: String
        var database: String
    }

    var databaseName: String { store.backend.kind == .postgres ? "postgresql" : "sqlite" }

    /// 200 when a query reaches the database within `readinessTimeout`; 503
    /// `database_unavailable` naming the database otherwise.
    @Sendable func ready(_ request: Request, context: Context) async throws -> Response {
        let reachable = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await store.backend.read { sql in try await sql.raw("SELECT 1 AS one").run() }
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: Self.readinessTimeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard reachable else {
            var refusal = PalisadeError(.serviceUnavailable, code: .databaseUnavailable,
                                        message: "not ready: the database (\(databaseName)) is unreachable",
                                        details: ["database": .string(databaseName)])
            refusal.headers[.retryAfter] = String(DatabaseFailure.retryAfterSeconds)
            throw refusal
        }
        return try JSONBody.response(Readiness(status: "ready", database: databaseName))
    }

    @Sendable func metrics(_ request: Request, context: some RequestContext) async throws -> Response {
        let bytes = store.metrics.exposition(longPollsHeld: await store.notifier.subscriberCount)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

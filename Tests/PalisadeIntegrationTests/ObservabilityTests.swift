import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PalisadeAgent
import PalisadeCore
import PalisadeServer
import Testing

/// `/metrics`, request ids, the access log's JSON format, and readiness.
@Suite struct ObservabilityTests {
    /// The Prometheus text of `/metrics`.
    static func scrape(_ server: TestServer, token: String? = nil) async throws -> (status: Int, text: String) {
        var request = HTTPClientRequest(url: server.baseURL + "/metrics")
        if token != "" { request.headers.add(name: "Authorization", value: "Bearer \(token ?? server.adminToken)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        return (Int(response.status.code), String(buffer: body))
    }

    /// The value of one sample line (`name{labels} value`), or nil.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test("/metrics exposes check-ins, long-polls, reports, recomputes, enrollments, requests by route template and errors by code", arguments: StoreEngine.available)
    func metricsExposeTheNamedSeries(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let (agent, _, _) = try await TestAgent.enrolledWithPolicy(server)
            try await agent.sync()
            let unknown = "device-that-does-not-exist-\(UUID().uuidString.prefix(6))"
            #expect(try await server.api(.GET, "/api/v1/devices/\(unknown)").status == 404)
            #expect(try await server.api(.POST, "/api/v1/groups", ["name": 12]).status == 400)

            let (status, text) = try await Self.scrape(server)
            #expect(status == 200)
            #expect(Self.sample(text, #"palisade_check_ins_total{outcome="changed"}"#) == 1)
            #expect(Self.sample(text, #"palisade_enrollments_total{outcome="enrolled"}"#) == 1)
            #expect(Self.sample(text, "palisade_reports_ingested_total") == 1)
            #expect(Self.sample(text, "palisade_long_polls_held") == 0)
            #expect((Self.sample(text, "palisade_recompute_duration_seconds_count") ?? 0) >= 1)
            #expect(Self.sample(text, #"palisade_http_requests_total{method="POST",route="/device/v1/check-in",status="200"}"#) == 1)
            #expect(Self.sample(text, #"palisade_http_requests_total{method="GET",route="/api/v1/devices/{id}",status="404"}"#) == 1)
            #expect(Self.sample(text, #"palisade_errors_total{code="not_found",status="404"}"#) == 1)
            #expect(Self.sample(text, #"palisade_errors_total{code="invalid_request",status="400"}"#) == 1)
            // Routes are templates: a request's own path never becomes a label.
            #expect(!text.contains(unknown))

            // A held long-poll shows in the gauge while it waits.
            let (outcome, _) = try await agent.checkIn(parkedOn: server, waitSeconds: 30) {
                let (_, held) = try await Self.scrape(server)
                #expect(Self.sample(held, "palisade_long_polls_held") == 1)
                _ = try await server.api(.POST, "/api/v1/devices/\(agent.deviceId)/sync")
            }
            _ = outcome
        }
    }

    @Test("/metrics needs a token unless the server runs with --metrics-public", arguments: StoreEngine.available)
    func metricsAccess(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let refused = try await Self.scrape(server, token: "")
            #expect(refused.status == 401)
            #expect(try await Self.scrape(server, token: "not-a-token").status == 401)
        }
        try await TestServer.with(engine, metricsPublic: true) { server in
            _ = try await server.api(.GET, "/api/v1/health", token: "")
            let open = try await Self.scrape(server, token: "")
            #expect(open.status == 200)
            #expect(open.text.contains("palisade_http_requests_total"))
        }
    }

    @Test("Every answer carries X-Request-Id; error bodies name it; a sane incoming id is kept, anything else replaced", arguments: StoreEngine.available)
    func requestIds(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let ok = try await server.api(.GET, "/api/v1/health")
            let generated = try #require(ok.headers.first(name: "X-Request-Id"))
            #expect(generated.count == 24)

            let refused = try await server.api(.GET, "/api/v1/devices/nope")
            let id = try #require(refused.headers.first(name: "X-Request-Id"))
            #expect(refused.body.objectValue?["error"]?.objectValue?["requestId"]?.stringValue == id)
            #expect(id != generated)

            let kept = try await server.api(.GET, "/api/v1/devices/nope", headers: ["X-Request-Id": "proxy-7f3a.1:abc_d"])
            #expect(kept.headers.first(name: "X-Request-Id") == "proxy-7f3a.1:abc_d")
            #expect(kept.body.objectValue?["error"]?.objectValue?["requestId"]?.stringValue == "proxy-7f3a.1:abc_d")

            for hostile in ["two words", String(repeating: "a", count: 129), "new\\nline{}"] {
                let replaced = try await server.api(.GET, "/api/v1/health", headers: ["X-Request-Id": hostile])
                let answered = try #require(replaced.headers.first(name: "X-Request-Id"))
                #expect(answered != hostile && answered.count == 24)
            }
        }
    }

    @Test("Readiness names the database and answers 200 while it is reachable", arguments: StoreEngine.available)
    func readiness(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let ready = try await server.api(.GET, "/api/v1/ready", token: "")
            #expect(ready.status == 200)
            #expect(ready.body == ["status": "ready", "database": .string(engine == .sqlite ? "sqlite" : "postgresql")])
        }
    }

    @Test("--log-format json writes one JSON object per line with the request id")
    func jsonLogLines() throws {
        let lines = NIOLockedLines()
        var logger = Logger(label: "palisade.test.json") { JSONLogHandler(label: $0, write: lines.append) }
        logger[metadataKey: "hb.request.id"] = "abc123"
        logger.info("request", metadata: ["status": .stringConvertible(200), "route": "/api/v1/devices/{id}"])
        let written = lines.all
        #expect(written.count == 1)
        #expect(written[0].hasSuffix("\n") && written[0].dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "request")
        #expect(object["level"] as? String == "info")
        #expect(object["hb.request.id"] as? String == "abc123")
        #expect(object["status"] as? String == "200")
        #expect(object["route"] as? String == "/api/v1/devices/{id}")
        #expect(object["time"] is String)
    }

    @Test("An agent told 503 with Retry-After waits at least that long")
    func agentHonoursRetryAfter() {
        for _ in 0..<50 {
            let delay = PalisadeAgent.honouring(retryAfter: .seconds(5), backoff: .milliseconds(10))
            #expect(delay >= .seconds(5) && delay <= .seconds(6))
        }
        #expect(PalisadeAgent.honouring(retryAfter: .seconds(1), backoff: .seconds(30)) == .seconds(30))
        #expect(AgentError.serverUnavailable(code: "database_unavailable", message: "", retryAfter: .seconds(5)).isTransient)
    }
}

/// Collects log lines written by a handler under test.
final class NIOLockedLines: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    var all: [String] { lines.withLockedValue { $0 } }
    @Sendable func append(_ line: String) { lines.withLockedValue { $0.append(line) } }
}

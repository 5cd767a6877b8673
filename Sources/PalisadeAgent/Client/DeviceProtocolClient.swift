import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import PalisadeCore
import PalisadeIdentity

/// The agent's side of `/device/v1`: JSON over HTTPS, each call after enrollment signed with a
/// fresh single-use assertion. Every request carries the TLS configuration of `trust` (so it
/// trusts exactly the pinned CA, whatever the shared HTTP client's defaults are).
public struct DeviceProtocolClient: Sendable {
    public let serverURL: String
    let httpClient: HTTPClient
    let trust: ServerTrust
    let tlsConfiguration: TLSConfiguration?

    /// Refuses an `http://` server that `trust` does not allow.
    public init(serverURL: String, httpClient: HTTPClient, trust: ServerTrust) throws {
        try trust.check(serverURL: serverURL)
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        self.httpClient = httpClient
        self.trust = trust
        self.tlsConfiguration = serverURL.lowercased().hasPrefix("https://") ? try trust.tlsConfiguration() : nil
    }

    public func enroll(_ request: DeviceProtocol.EnrollRequest) async throws -> DeviceProtocol.EnrollResponse {
        try await send("/enroll", body: request, signer: nil, timeout: .seconds(30))
    }

    public func checkIn(_ request: DeviceProtocol.CheckInRequest, signer: DeviceAssertionSigner) async throws -> DeviceProtocol.CheckInResponse {
        // Give the server its long-poll plus a margin before giving up on the connection.
        let timeout = TimeAmount.seconds(Int64(request.waitSeconds ?? 0) + 30)
        return try await send("/check-in", body: request, signer: signer, timeout: timeout)
    }

    public func report(_ report: DeviceProtocol.StatusReport, signer: DeviceAssertionSigner) async throws -> DeviceProtocol.StatusReportResponse {
        try await send("/reports", body: report, signer: signer, timeout: .seconds(30))
    }

    private func send<Body: Encodable, Answer: Decodable>(
        _ endpoint: String, body: Body, signer: DeviceAssertionSigner?, timeout: TimeAmount
    ) async throws -> Answer {
        let path = DeviceProtocol.basePath + endpoint
        let bytes = try CanonicalJSON.data(body)
        var request = HTTPClientRequest(url: serverURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "palisade-agent/\(AgentVersion.current)")
        if let signer {
            request.headers.add(name: "Authorization", value: try await signer.authorizationHeader(method: "POST", path: path, body: bytes))
        }
        request.body = .bytes(ByteBuffer(bytes: bytes))
        request.tlsConfiguration = tlsConfiguration
        let response: HTTPClientResponse
        let payload: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: timeout)
            payload = try await response.body.collect(upTo: 16 * 1024 * 1024)
        } catch {
            throw trust.explain(error, serverURL: serverURL)
        }
        let data = Data(buffer: payload)
        guard (200..<300).contains(Int(response.status.code)) else {
            let error = try? JSONDecoder().decode(ErrorBody.self, from: data)
            let code = error?.error.code ?? "http_\(response.status.code)"
            let message = error?.error.message ?? String(decoding: data.prefix(500), as: UTF8.self)
            if response.status == .forbidden, code == DeviceProtocol.ErrorCode.deviceRetired {
                throw AgentError.retired(deviceId: signer?.deviceId ?? "?", message: message)
            }
            if response.status == .serviceUnavailable, let seconds = response.headers.first(name: "Retry-After").flatMap(Int.init), seconds >= 0 {
                throw AgentError.serverUnavailable(code: code, message: message, retryAfter: .seconds(min(seconds, 3_600)))
            }
            throw AgentError.server(status: Int(response.status.code), code: code, message: message)
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: data)
        } catch {
            throw AgentError.server(status: Int(response.status.code), code: "unreadable_answer", message: "cannot read the server's answer: \(error)")
        }
    }
}

extension HTTPClient {
    /// The agent's HTTP client: a dead server fails a request after `connectTimeout` instead of
    /// after the whole request deadline, and a failed connection or TLS handshake fails the
    /// request at once instead of being retried until the deadline, so the agent backs off
    /// (and says why) promptly. An idle connection is dropped after 30 s, before the server's
    /// 60 s idle timeout, so that a request never goes out on a connection the server is
    /// closing at that moment. Requests bring their own TLS configuration (`ServerTrust`).
    public static func palisadeAgent(connectTimeout: TimeAmount = .seconds(10)) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = connectTimeout
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.idleTimeout = .seconds(30)
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

public enum AgentVersion {
    public static let current = "0.1.0"
}

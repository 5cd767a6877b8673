import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import PalisadeCore
import PalisadeServer

/// `palisade-bench ceiling --port P --tls-cert F --tls-key F`: the ceiling of issue 12's
/// delivery benchmark. A bare Hummingbird 2 server on the same TLS setup as `palisade serve`
/// (same certificate, HTTP/1.1, TLS 1.2+) with one route, `POST /device/v1/check-in`, that
/// answers "unchanged" with the hash the request names: no assertion check, no database, no
/// long-poll. Loaded by the same `palisade simulate` devices as the real server (they reach it
/// at the same URL once the real server is stopped), it tells what the framework, TLS and the
/// client allow on this machine, and the check-in rate is read as a share of it.
enum CeilingServer {
    struct CheckIn: Decodable { var configurationHash: String? }

    static func run(arguments: [String]) async throws {
        func value(_ name: String) -> String? {
            guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
            return arguments[index + 1]
        }
        guard let port = value("--port").flatMap(Int.init), (1...65535).contains(port) else { throw usage("--port must be from 1 to 65535") }
        let host = value("--host") ?? "127.0.0.1"
        var logger = Logger(label: "palisade.bench.ceiling")
        logger.logLevel = .warning
        let router = Router()
        router.post("device/v1/check-in") { request, context -> Response in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            let body = try JSONDecoder().decode(CheckIn.self, from: Data(buffer.readableBytesView))
            let answer = DeviceProtocol.CheckInResponse(status: .unchanged, configurationHash: body.configurationHash ?? "", configuration: nil)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try CanonicalJSON.data(answer))))
        }
        let server: HTTPServerBuilder
        if let certificate = value("--tls-cert"), let key = value("--tls-key") {
            let tls = ServerTLS(certificateChainPEM: try String(contentsOfFile: certificate, encoding: .utf8), privateKeyPEM: try String(contentsOfFile: key, encoding: .utf8))
            server = try .tls(.http1(configuration: .init(idleTimeout: .seconds(60))), tlsConfiguration: try tls.makeTLSConfiguration())
        } else {
            server = .http1(configuration: .init(idleTimeout: .seconds(60)))
        }
        let app = Application(router: router, server: server, configuration: .init(address: .hostname(host, port: port), serverName: "palisade-ceiling"), logger: logger)
        try await app.runService()
    }

    static func usage(_ message: String) -> any Error {
        FileHandle.standardError.write(Data("palisade-bench ceiling: \(message)\nusage: palisade-bench ceiling --port P [--host H] [--tls-cert FILE --tls-key FILE]\n".utf8))
        exit(2)
    }
}

import Foundation
import NIOSSL
import PalisadeCore

/// Whom the agent believes to be its server. With a pinned CA (from the onboarding package or
/// `--ca-file`), every request trusts exactly that certificate and nothing else, not even the
/// system's roots; without one, an `https://` server must chain to the system's roots. Plain
/// `http://` is refused unless `--insecure-http` allowed it at enrollment.
public struct ServerTrust: Sendable, Equatable {
    /// The one CA certificate (PEM) server certificates must chain to; nil: the system's roots.
    public var pinnedCAPEM: String?
    /// `--insecure-http`: an `http://` server may be used.
    public var allowInsecureHTTP: Bool

    public init(pinnedCAPEM: String? = nil, allowInsecureHTTP: Bool = false) {
        self.pinnedCAPEM = pinnedCAPEM
        self.allowInsecureHTTP = allowInsecureHTTP
    }

    public static func pinned(_ pem: String) -> ServerTrust { ServerTrust(pinnedCAPEM: pem) }
    public static let systemRoots = ServerTrust()
    public static let insecureHTTP = ServerTrust(allowInsecureHTTP: true)

    /// The pinned CA's SHA-256 fingerprint, as `palisade serve` prints it.
    public var pinnedFingerprint: String? { pinnedCAPEM.flatMap(CertificateFingerprint.sha256(pem:)) }

    /// Refuses an `http://` server unless allowed, and anything but http(s).
    public func check(serverURL: String) throws {
        let lowered = serverURL.lowercased()
        if lowered.hasPrefix("http://") {
            guard allowInsecureHTTP else { throw AgentError.insecureServer(serverURL: serverURL) }
        } else if !lowered.hasPrefix("https://") {
            throw AgentError.invalidArgument("the server URL must start with https:// (or http:// with --insecure-http), got \"\(serverURL)\"")
        }
    }

    /// The TLS configuration of every request: TLS 1.2 or later, full verification of the
    /// chain and the host name, trust roots exactly the pinned CA when there is one.
    public func tlsConfiguration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if let pinnedCAPEM {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMBytes(Array(pinnedCAPEM.utf8))
            } catch {
                throw AgentError.invalidArgument("the pinned CA certificate cannot be read: \(error)")
            }
            guard let first = certificates.first else {
                throw AgentError.invalidArgument("the pinned CA holds no PEM certificate")
            }
            configuration.trustRoots = .certificates([first])
            configuration.additionalTrustRoots = []
        }
        return configuration
    }

    /// Turns what a failed request threw into what the operator needs to hear: a certificate
    /// that does not chain to the pinned CA, a certificate for another name, a server that
    /// does not speak TLS, or an unreachable server.
    func explain(_ error: any Error, serverURL: String) -> AgentError {
        if let error = error as? AgentError { return error }
        if case .handshakeFailed(let reason)? = error as? NIOSSLError {
            let text = "\(reason)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return .untrustedServer(serverURL: serverURL, pinnedCA: pinnedFingerprint, detail: text)
            }
            if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") || text.contains("HTTP_REQUEST") {
                return .unreachable("\(serverURL) does not speak TLS (a plain HTTP server?): \(text)")
            }
            return .unreachable("TLS handshake with \(serverURL) failed: \(text)")
        }
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return .serverNameMismatch(serverURL: serverURL, detail: "\(error)")
        }
        return .unreachable("\(serverURL): \(error)")
    }
}

import Foundation
import NIOSSL
import PalisadeCore

/// What the HTTPS listener serves: a certificate chain (leaf first) and its private key, PEM.
public struct ServerTLS: Sendable {
    public var certificateChainPEM: String
    public var privateKeyPEM: String

    public init(certificateChainPEM: String, privateKeyPEM: String) {
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// A NIOSSL server configuration (TLS 1.2 or later); fails when the PEM cannot be read.
    public func makeTLSConfiguration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateChainPEM.utf8))
        } catch {
            throw TLSSetupError("the certificate chain is not readable PEM (\(error))")
        }
        guard !chain.isEmpty else { throw TLSSetupError("the certificate chain holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        } catch {
            throw TLSSetupError("the private key is not a readable PEM key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}

/// The CA agents pin, as onboarding packages carry it.
public struct PinnedCA: Sendable, Equatable {
    public var certificatePEM: String
    /// `CertificateFingerprint.sha256` of its DER.
    public var sha256: String

    /// The first certificate of `pem` (or the last one, for a chain whose root comes last).
    public init(certificatePEM pem: String, last: Bool = false) throws {
        let blocks = PEMCertificates.derBlocks(in: pem)
        guard let der = last ? blocks.last : blocks.first else {
            throw TLSSetupError("no PEM certificate found where the CA certificate was expected")
        }
        self.certificatePEM = PEMCertificates.pem(der: der)
        self.sha256 = CertificateFingerprint.sha256(der: der)
    }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

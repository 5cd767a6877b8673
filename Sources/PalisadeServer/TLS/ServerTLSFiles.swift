#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import PalisadeCore
import PalisadeSupport
import SwiftASN1
import X509

/// The TLS files of `palisade serve`: the generated private CA and server certificate in
/// `DATA_DIR/tls/` (created at the first start, reused later, the server certificate issued
/// again when its names change or it nears expiry), or an admin's own certificate and key.
public enum ServerTLSFiles {
    public static let caCertificateFile = "ca.pem"
    public static let caKeyFile = "ca-key.pem"
    public static let serverCertificateFile = "server.pem"
    public static let serverKeyFile = "server-key.pem"

    /// What `prepare` found or made.
    public struct Prepared: Sendable {
        public var tls: ServerTLS
        public var ca: PinnedCA
        public var createdCA: Bool
        /// Set when the server certificate was issued at this start, with the reason.
        public var issuedServerCertificate: String?
        public var serverCertificateExpires: Date
        /// Things an operator should hear about (a CA close to expiry, loose permissions fixed).
        public var warnings: [String]
    }

    /// The private CA and server certificate in `directory` (mode 0700, keys and certificates
    /// 0600), created or reused; `subjectAltNames` from `--san` (the defaults are added).
    public static func prepare(directory: String, subjectAltNames requested: [String], now: Date = Date()) throws -> Prepared {
        let names = try PrivateCertificateAuthority.normalizedSubjectAltNames(requested)
        try AtomicFile.createDirectory(directory, mode: 0o700)
        var warnings: [String] = []
        if tighten(directory, to: 0o700) { warnings.append("\(directory) was readable by others; set it to mode 0700") }

        let caPath = path(directory, caCertificateFile), caKeyPath = path(directory, caKeyFile)
        let serverPath = path(directory, serverCertificateFile), serverKeyPath = path(directory, serverKeyFile)

        // The CA: ca.pem marks that one exists (the key is written first).
        var createdCA = false
        let ca: PrivateCertificateAuthority.Issued
        if AtomicFile.exists(caPath) {
            guard AtomicFile.exists(caKeyPath) else {
                throw TLSSetupError("""
                    \(caPath) exists but \(caKeyPath) does not: restore the CA key, or move \(directory) away to create \
                    a new CA (every enrolled agent pins the old one and must then be enrolled again)
                    """)
            }
            let certificate = try Certificate(pemEncoded: try text(caPath))
            let key = try Certificate.PrivateKey(pemEncoded: try text(caKeyPath))
            guard key.publicKey == certificate.publicKey else {
                throw TLSSetupError("\(caKeyPath) is not the private key of the CA in \(caPath)")
            }
            ca = .init(certificate: certificate, privateKey: key, certificatePEM: PrivateCertificateAuthority.withNewline(try text(caPath)), privateKeyPEM: "")
            for file in [caPath, caKeyPath] where tighten(file, to: 0o600) {
                warnings.append("\(file) was readable by others; set it to mode 0600")
            }
        } else {
            ca = try PrivateCertificateAuthority.makeCA(now: now)
            try AtomicFile.write(Array(ca.privateKeyPEM.utf8), to: caKeyPath, mode: 0o600)
            try AtomicFile.write(Array(ca.certificatePEM.utf8), to: caPath, mode: 0o600)
            createdCA = true
        }
        if ca.certificate.notValidAfter < now {
            throw TLSSetupError("""
                the private CA in \(caPath) expired on \(ca.certificate.notValidAfter.ISO8601Format()): move \(directory) away \
                to create a new one, and enroll every agent again with a new onboarding package
                """)
        }
        if ca.certificate.notValidAfter < now + 180 * 86_400 {
            warnings.append("the private CA expires on \(ca.certificate.notValidAfter.ISO8601Format()); plan a new CA and new onboarding packages before then")
        }

        // The server certificate: reused unless missing, unreadable, another key, or due.
        var reason: String?
        var server: (certificate: Certificate, keyPEM: String, certificatePEM: String)?
        if AtomicFile.exists(serverPath), AtomicFile.exists(serverKeyPath),
           let certificatePEM = try? text(serverPath), let keyPEM = try? text(serverKeyPath),
           let certificate = try? Certificate(pemEncoded: certificatePEM),
           let key = try? Certificate.PrivateKey(pemEncoded: keyPEM) {
            if key.publicKey != certificate.publicKey {
                reason = "\(serverKeyPath) is not the key of \(serverPath)"
            } else {
                reason = PrivateCertificateAuthority.reissueReason(server: certificate, ca: ca.certificate, subjectAltNames: names, now: now)
            }
            if reason == nil {
                server = (certificate, keyPEM, certificatePEM)
                for file in [serverPath, serverKeyPath] where tighten(file, to: 0o600) {
                    warnings.append("\(file) was readable by others; set it to mode 0600")
                }
            }
        } else {
            reason = createdCA ? "a new CA was created" : "there was no readable server certificate"
        }
        if server == nil {
            let issued = try PrivateCertificateAuthority.issueServerCertificate(subjectAltNames: names, ca: ca.certificate, caKey: ca.privateKey, now: now)
            try AtomicFile.write(Array(issued.privateKeyPEM.utf8), to: serverKeyPath, mode: 0o600)
            try AtomicFile.write(Array(issued.certificatePEM.utf8), to: serverPath, mode: 0o600)
            server = (issued.certificate, issued.privateKeyPEM, issued.certificatePEM)
        }
        let (certificate, keyPEM, certificatePEM) = server!
        // The chain sent to clients: the leaf, then the CA (clients that pin the CA need only
        // the leaf, but tools that fetch the chain see where it ends).
        let tls = ServerTLS(certificateChainPEM: PrivateCertificateAuthority.withNewline(certificatePEM) + ca.certificatePEM, privateKeyPEM: keyPEM)
        return Prepared(tls: tls, ca: try PinnedCA(certificatePEM: ca.certificatePEM), createdCA: createdCA,
                        issuedServerCertificate: reason, serverCertificateExpires: certificate.notValidAfter, warnings: warnings)
    }

    /// An admin's own certificate chain and key (`--tls-cert`, `--tls-key`). The CA agents
    /// pin is `caFile` (`--tls-ca`) or else the last certificate of the chain.
    public static func load(certificateFile: String, keyFile: String, caFile: String?) throws -> (tls: ServerTLS, ca: PinnedCA) {
        let tls = ServerTLS(certificateChainPEM: try text(certificateFile), privateKeyPEM: try text(keyFile))
        do {
            _ = try tls.makeTLSConfiguration()
        } catch {
            throw TLSSetupError("cannot use --tls-cert \(certificateFile) with --tls-key \(keyFile): \(error)")
        }
        if let leafDER = PEMCertificates.derBlocks(in: tls.certificateChainPEM).first,
           let leaf = try? Certificate(derEncoded: leafDER),
           let key = try? Certificate.PrivateKey(pemEncoded: tls.privateKeyPEM),
           key.publicKey != leaf.publicKey {
            throw TLSSetupError("--tls-key \(keyFile) is not the private key of the first certificate in --tls-cert \(certificateFile)")
        }
        let ca = try caFile.map { try PinnedCA(certificatePEM: try text($0)) } ?? PinnedCA(certificatePEM: tls.certificateChainPEM, last: true)
        return (tls, ca)
    }

    static func path(_ directory: String, _ file: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(file).path
    }

    static func text(_ path: String) throws -> String {
        guard let bytes = AtomicFile.read(path) else {
            throw TLSSetupError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Narrows a file's mode to `mode` when group or others have access; true when it did.
    static func tighten(_ path: String, to mode: mode_t) -> Bool {
        guard let current = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, current & 0o077 != 0 else { return false }
        return chmod(path, mode) == 0
    }
}

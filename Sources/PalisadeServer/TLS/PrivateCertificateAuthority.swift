#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Crypto
import Foundation
import PalisadeCore
import SwiftASN1
import X509

/// The private CA `palisade serve` creates on its first start, and the server certificates it
/// issues. Pure: keys, certificates and decisions; the files live in `ServerTLSFiles`.
///
/// Both keys are P-256. The CA is valid 10 years, may sign only end-entity certificates
/// (path length 0) and signs nothing but certificates (keyCertSign, cRLSign). The server
/// certificate is valid one year, is not a CA, and may be used only for TLS server
/// authentication (digitalSignature; extended key usage serverAuth) for the names in its
/// subject alternative names.
public enum PrivateCertificateAuthority {
    public static let caValidity: TimeInterval = 10 * 365 * 86_400
    public static let serverValidity: TimeInterval = 365 * 86_400
    /// A server certificate that expires sooner than this is issued again at start.
    public static let renewalWindow: TimeInterval = 30 * 86_400
    /// Certificates are valid from a little before they were made, so that a device whose
    /// clock lags by minutes still accepts them.
    static let backdating: TimeInterval = 3_600
    /// Names every server certificate carries besides `--san`.
    public static let defaultSubjectAltNames = ["localhost", "127.0.0.1"]

    /// A certificate with its private key, and both in PEM.
    public struct Issued: Sendable {
        public var certificate: Certificate
        public var privateKey: Certificate.PrivateKey
        public var certificatePEM: String
        public var privateKeyPEM: String
    }

    public struct InvalidName: Error, CustomStringConvertible {
        public var name: String
        public var description: String {
            "\"\(name)\" is neither a DNS name (letters, digits, hyphens, dots; \"*.\" at the start at most) nor an IPv4 or IPv6 address"
        }
    }

    /// A new self-signed CA with a fresh P-256 key.
    public static func makeCA(now: Date) throws -> Issued {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let suffix = Digest.sha256Hex(Array(key.publicKey.subjectPublicKeyInfoBytes)).prefix(8)
        let name = try DistinguishedName {
            OrganizationName("Palisade")
            CommonName("Palisade private CA \(suffix)")
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: key.publicKey)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now - backdating, notValidAfter: now + caValidity,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: key)
        return try issued(certificate, key)
    }

    /// A server certificate for `subjectAltNames` (already normalized), signed by the CA.
    public static func issueServerCertificate(subjectAltNames: [String], ca: Certificate, caKey: Certificate.PrivateKey, now: Date) throws -> Issued {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let names = try subjectAltNames.map(generalName)
        let subject = try DistinguishedName {
            OrganizationName("Palisade")
            CommonName(subjectAltNames.first ?? "palisade")
        }
        let authorityKeyId = try ca.extensions.subjectKeyIdentifier?.keyIdentifier
            ?? SubjectKeyIdentifier(hash: ca.publicKey).keyIdentifier
        let serverAuth = try ExtendedKeyUsage([.serverAuth])
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            serverAuth
            SubjectAlternativeNames(names)
            SubjectKeyIdentifier(hash: key.publicKey)
            AuthorityKeyIdentifier(keyIdentifier: authorityKeyId)
        }
        // Never valid after the CA that vouches for it.
        let notAfter = min(now + serverValidity, ca.notValidAfter)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now - backdating, notValidAfter: notAfter,
            issuer: ca.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: caKey)
        return try issued(certificate, key)
    }

    /// `--san` values plus the defaults, validated, lowercased, without duplicates, in order.
    public static func normalizedSubjectAltNames(_ requested: [String]) throws -> [String] {
        var result: [String] = []
        for raw in requested + defaultSubjectAltNames {
            let name = raw.lowercased()
            guard isIPAddress(name) || isDNSName(name) else { throw InvalidName(name: raw) }
            let canonical = ipBytes(name).map(ipString) ?? name
            if !result.contains(canonical) { result.append(canonical) }
        }
        return result
    }

    /// The names a certificate is valid for, as `normalizedSubjectAltNames` writes them.
    public static func subjectAltNames(of certificate: Certificate) -> Set<String> {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        var result: Set<String> = []
        for name in names {
            switch name {
            case .dnsName(let dns): result.insert(dns.lowercased())
            case .ipAddress(let octets): result.insert(ipString(Array(octets.bytes)))
            default: continue
            }
        }
        return result
    }

    /// Why the server certificate must be issued again (nil: keep it): another CA signed it,
    /// its names differ from the requested ones, or it expires within the renewal window.
    public static func reissueReason(server: Certificate, ca: Certificate, subjectAltNames: [String], now: Date) -> String? {
        if server.issuer != ca.subject || !ca.publicKey.isValidSignature(server.signature, for: server) {
            return "it was not signed by the CA in ca.pem"
        }
        let current = Self.subjectAltNames(of: server)
        if current != Set(subjectAltNames) {
            return "its names (\(current.sorted().joined(separator: ", "))) differ from the requested ones (\(subjectAltNames.joined(separator: ", ")))"
        }
        if server.notValidAfter < now + renewalWindow {
            return "it expires on \(server.notValidAfter.ISO8601Format())"
        }
        return nil
    }

    /// The fingerprint agents pin: SHA-256 of the certificate's DER, as OpenSSL prints it.
    public static func fingerprint(of certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return CertificateFingerprint.sha256(der: serializer.serializedBytes)
    }

    // MARK: Names

    static func generalName(_ name: String) throws -> GeneralName {
        if let bytes = ipBytes(name) { return .ipAddress(ASN1OctetString(contentBytes: bytes[...])) }
        guard isDNSName(name) else { throw InvalidName(name: name) }
        return .dnsName(name)
    }

    static func isIPAddress(_ name: String) -> Bool { ipBytes(name) != nil }

    static func isDNSName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" { labels.removeFirst() }
        guard !labels.isEmpty else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" }
        }
    }

    static func ipBytes(_ name: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, name, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, name, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func ipString(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        guard bytes.count == 4 || bytes.count == 16,
              bytes.withUnsafeBytes({ inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }) != nil else {
            return bytes.map { String($0) }.joined(separator: ".")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func issued(_ certificate: Certificate, _ key: Certificate.PrivateKey) throws -> Issued {
        Issued(certificate: certificate, privateKey: key,
               certificatePEM: withNewline(try certificate.serializeAsPEM().pemString),
               privateKeyPEM: withNewline(try key.serializeAsPEM().pemString))
    }

    /// PEM files end with a newline, so that they can be concatenated into a chain.
    static func withNewline(_ pem: String) -> String {
        pem.hasSuffix("\n") ? pem : pem + "\n"
    }
}

import Foundation
import PalisadeCore
import Testing

/// PEM certificates read and written through SwiftASN1's `PEMDocument`, and their fingerprints
/// as OpenSSL writes them.
@Suite struct CertificateFingerprintTests {
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=Palisade test CA"`.
    static let certificate = """
        -----BEGIN CERTIFICATE-----
        MIIBjTCCATOgAwIBAgIUMe6lJaxHahnuiMkKjHWeUqa2nLswCgYIKoZIzj0EAwIw
        GzEZMBcGA1UEAwwQUGFsaXNhZGUgdGVzdCBDQTAgFw0yNjEyMDcxNzIyNDRaGA8y
        MTI2MTExMzE3MjI0NFowGzEZMBcGA1UEAwwQUGFsaXNhZGUgdGVzdCBDQTBZMBMG
        ByqGSM49AgEGCCqGSM49AwEHA0IABO5U2FryvgflV4VBGbMIP652T4OJRvbTjmRo
        WUjJkR2iwvrXHfXGaejL/bqkU6LaMpRwljgtzFNDVk6XItgP5KKjUzBRMB0GA1Ud
        DgQWBBTIHI6+33W+wWhRBTvBwruiTu5WZzAfBgNVHSMEGDAWgBTIHI6+33W+wWhR
        BTvBwruiTu5WZzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCICQS
        uD0fhXyPpljsDct7ElJQP+EsRAAOfa67n8PrJ4saAiEAgUmiARBS6n3Ib6iNu7J5
        vtI3lZwOmN0vBRO3KGdTnKg=
        -----END CERTIFICATE-----

        """
    /// `openssl x509 -noout -fingerprint -sha256` of it.
    static let fingerprint = "3B:30:02:C0:84:99:70:7D:19:CC:57:FC:48:62:21:B9:8E:AC:F9:3F:E1:61:48:DD:0E:DF:36:53:ED:33:EB:E9"

    @Test func theFingerprintIsOpenSSLsAndAPEMIsWrittenAsOpenSSLWritesIt() throws {
        #expect(CertificateFingerprint.sha256(pem: Self.certificate) == Self.fingerprint)
        #expect(try CertificateFingerprint.sha256(firstCertificateIn: Self.certificate) == Self.fingerprint)
        let der = try #require(PEMCertificates.derBlocks(in: Self.certificate).first)
        #expect(PEMCertificates.pem(der: der) == Self.certificate)
        #expect(CertificateFingerprint.matches(Self.fingerprint.lowercased().replacingOccurrences(of: ":", with: ""), Self.fingerprint))
    }

    /// Windows line endings, text before the first block (as `openssl x509 -text` writes it),
    /// a key beside a chain: the certificates are still found, in order.
    @Test func certificatesAreFoundAmongOtherBlocksAndLineEndings() throws {
        let crlf = Self.certificate.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(CertificateFingerprint.sha256(pem: crlf) == Self.fingerprint)
        let key = Self.certificate.replacingOccurrences(of: "CERTIFICATE", with: "PRIVATE KEY")
        let bundle = "subject=CN=Palisade test CA\n" + key + Self.certificate + Self.certificate
        #expect(try PEMCertificates.certificates(in: bundle).count == 2)
        #expect(CertificateFingerprint.sha256(pem: bundle) == Self.fingerprint)
    }

    /// What OpenSSL read before must still read: 76-character lines (Windows' certutil and
    /// PowerShell write them), one long line, indented lines.
    @Test func base64WrappedAtOtherWidthsOrIndentedStillReads() throws {
        let lines = Self.certificate.split(separator: "\n").map(String.init)
        let base64 = lines.dropFirst().dropLast().joined()
        func wrapped(_ width: Int, indent: String = "") -> String {
            var rows: [String] = []
            var rest = Substring(base64)
            while !rest.isEmpty { rows.append(indent + rest.prefix(width)); rest = rest.dropFirst(width) }
            return ([lines[0]] + rows + [lines.last!]).joined(separator: "\n") + "\n"
        }
        for pem in [wrapped(76), wrapped(10_000), wrapped(64, indent: "    ")] {
            #expect(try CertificateFingerprint.sha256(firstCertificateIn: pem) == Self.fingerprint, "\(pem)")
        }
    }

    @Test func malformedPEMIsRefusedSayingWhatIsWrong() {
        let lines = Self.certificate.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let cases: [(String, String, String)] = [
            ("empty", "", "no -----BEGIN CERTIFICATE----- block found"),
            ("not PEM", "hello", "no -----BEGIN CERTIFICATE----- block found"),
            ("no END line", lines.filter { $0 != "-----END CERTIFICATE-----" }.joined(separator: "\n"),
             "not a well-formed PEM document: -----BEGIN CERTIFICATE----- has no -----END CERTIFICATE----- line after it"),
            ("END of another kind", Self.certificate.replacingOccurrences(of: "END CERTIFICATE", with: "END PRIVATE KEY"),
             "not a well-formed PEM document: -----BEGIN CERTIFICATE----- is closed by -----END PRIVATE KEY-----"),
            ("bad base64", Self.certificate.replacingOccurrences(of: "MIIBjTCC", with: "MIIB*TCC"),
             "not a well-formed PEM document: the text between -----BEGIN----- and -----END----- is not base64"),
            ("only a key", Self.certificate.replacingOccurrences(of: "CERTIFICATE", with: "PRIVATE KEY"), "no CERTIFICATE block found, only PRIVATE KEY"),
        ]
        for (name, pem, expected) in cases {
            #expect(CertificateFingerprint.sha256(pem: pem) == nil, "\(name)")
            #expect(PEMCertificates.derBlocks(in: pem).isEmpty, "\(name)")
            do {
                _ = try CertificateFingerprint.sha256(firstCertificateIn: pem)
                Issue.record("\(name): accepted")
            } catch {
                let message = "\(error)"
                #expect(message == expected, "\(name): \(message)")
                #expect(!message.contains("ASN1Error") && !message.contains(".swift:"), "\(name): \(message)")
            }
        }
    }
}

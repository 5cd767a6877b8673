#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// SHA-256 fingerprints of certificates, written as OpenSSL writes them
/// (`openssl x509 -noout -fingerprint -sha256`): uppercase hex pairs joined by colons.
public enum CertificateFingerprint {
    /// The fingerprint of a DER-encoded certificate.
    public static func sha256(der: some DataProtocol) -> String {
        Digest.sha256Hex(der).uppercased().pairs().joined(separator: ":")
    }

    /// The fingerprint of the first certificate in a PEM document, or nil when there is none.
    public static func sha256(pem: String) -> String? {
        PEMCertificates.derBlocks(in: pem).first.map { sha256(der: $0) }
    }

    /// Two fingerprints name the same certificate (case, colons and spaces ignored).
    public static func matches(_ left: String, _ right: String) -> Bool {
        let normalized = { (value: String) in value.lowercased().filter { $0.isHexDigit } }
        let a = normalized(left)
        return a.count == 64 && a == normalized(right)
    }
}

/// The `CERTIFICATE` blocks of a PEM document, decoded.
public enum PEMCertificates {
    public static func derBlocks(in pem: String) -> [[UInt8]] {
        var blocks: [[UInt8]] = []
        var body: String?
        for rawLine in pem.split(whereSeparator: \.isNewline) {
            let line = String(rawLine.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            if line == "-----BEGIN CERTIFICATE-----" {
                body = ""
            } else if line == "-----END CERTIFICATE-----" {
                if let text = body, let data = Data(base64Encoded: text) { blocks.append(Array(data)) }
                body = nil
            } else if body != nil {
                body! += line
            }
        }
        return blocks
    }

    /// One certificate as PEM, 64 characters a line.
    public static func pem(der: [UInt8]) -> String {
        let base64 = Data(der).base64EncodedString()
        var lines = ["-----BEGIN CERTIFICATE-----"]
        var index = base64.startIndex
        while index < base64.endIndex {
            let next = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[index..<next]))
            index = next
        }
        lines.append("-----END CERTIFICATE-----")
        return lines.joined(separator: "\n") + "\n"
    }
}

private extension String {
    func pairs() -> [String] {
        var result: [String] = []
        var index = startIndex
        while index < endIndex {
            let next = self.index(index, offsetBy: 2, limitedBy: endIndex) ?? endIndex
            result.append(String(self[index..<next]))
            index = next
        }
        return result
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1

/// SHA-256 fingerprints of certificates, written as OpenSSL writes them
/// (`openssl x509 -noout -fingerprint -sha256`): uppercase hex pairs joined by colons.
public enum CertificateFingerprint {
    /// The fingerprint of a DER-encoded certificate.
    public static func sha256(der: some DataProtocol) -> String {
        Digest.sha256Hex(der).uppercased().pairs().joined(separator: ":")
    }

    /// The fingerprint of the first certificate in a PEM document, or nil when there is none.
    public static func sha256(pem: String) -> String? {
        try? sha256(firstCertificateIn: pem)
    }

    /// The fingerprint of the first certificate in a PEM document; throws, saying what is
    /// wrong, when the document is malformed or holds no certificate.
    public static func sha256(firstCertificateIn pem: String) throws(PEMCertificates.ParseError) -> String {
        sha256(der: try PEMCertificates.certificates(in: pem)[0])
    }

    /// Two fingerprints name the same certificate (case, colons and spaces ignored).
    public static func matches(_ left: String, _ right: String) -> Bool {
        let normalized = { (value: String) in value.lowercased().filter { $0.isHexDigit } }
        let a = normalized(left)
        return a.count == 64 && a == normalized(right)
    }
}

/// The `CERTIFICATE` blocks of a PEM document, read and written with SwiftASN1's `PEMDocument`.
public enum PEMCertificates {
    /// Why a text yields no certificate, in words an operator can act on.
    public struct ParseError: Error, CustomStringConvertible, Equatable, Sendable {
        public var description: String
    }

    /// The DER of every `CERTIFICATE` block, in order; other blocks (a private key beside a
    /// chain, say) are skipped. Throws when the text is not well-formed PEM (a missing END
    /// line, bad base64, lines other than 64 characters) or holds no certificate, saying which.
    public static func certificates(in pem: String) throws(ParseError) -> [[UInt8]] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: rewrapped(pem))
        } catch let error as ASN1Error {
            throw ParseError(description: "not a well-formed PEM document: \(reason(error))")
        } catch {
            throw ParseError(description: "not a well-formed PEM document: \(error)")
        }
        guard !documents.isEmpty else {
            throw ParseError(description: "no -----BEGIN CERTIFICATE----- block found")
        }
        let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }.map(\.derBytes)
        guard !certificates.isEmpty else {
            let found = documents.map(\.discriminator).joined(separator: ", ")
            throw ParseError(description: "no CERTIFICATE block found, only \(found)")
        }
        return certificates
    }

    /// The text with each block's base64 re-wrapped at 64 characters and every line trimmed.
    /// SwiftASN1 reads only RFC 7468's strict form, but OpenSSL and BoringSSL (which read these
    /// files before) also take 76-character lines (Windows' `certutil`, PowerShell's
    /// `ToBase64String(..., InsertLineBreaks)`) and indented lines: CA files and pins that
    /// worked must keep working.
    static func rewrapped(_ pem: String) -> String {
        var lines: [Substring] = []
        var body = ""
        var inBlock = false
        func flushBody() {
            var rest = Substring(body)
            while !rest.isEmpty {
                lines.append(rest.prefix(64))
                rest = rest.dropFirst(64)
            }
            body = ""
        }
        for raw in pem.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            var line = raw.drop(while: \.isWhitespace)
            while line.last?.isWhitespace == true { line = line.dropLast() }
            if line.hasPrefix("-----BEGIN ") {
                if inBlock { flushBody() }
                inBlock = true
                lines.append(line)
            } else if line.hasPrefix("-----END ") {
                flushBody()
                inBlock = false
                lines.append(line)
            } else if inBlock {
                body += line
            } else {
                lines.append(raw)
            }
        }
        if inBlock { flushBody() }
        return lines.joined(separator: "\n")
    }

    /// The same, empty where `certificates(in:)` throws.
    public static func derBlocks(in pem: String) -> [[UInt8]] {
        (try? certificates(in: pem)) ?? []
    }

    /// One certificate as PEM, 64 characters a line, ending in a newline.
    public static func pem(der: [UInt8]) -> String {
        PEMDocument(type: "CERTIFICATE", derBytes: der).pemString + "\n"
    }

    /// What SwiftASN1 says is wrong, in plain words. Its reasons are read without its type name
    /// and source location (`ASN1Error.invalidPEMDocument: <reason> SwiftASN1/File.swift:123`),
    /// and the ones a person pasting a certificate meets are reworded (some print Swift
    /// internals in swift-asn1 1.7); any other reason is passed on as it is.
    static func reason(_ error: ASN1Error) -> String {
        var text = Substring(String(describing: error))
        let prefix = "ASN1Error.\(error.code): "
        if text.hasPrefix(prefix) { text = text.dropFirst(prefix.count) }
        if let space = text.lastIndex(of: " "), text[text.index(after: space)...].contains(".swift:") { text = text[..<space] }
        let quoted = quotedStrings(in: text)
        if text.hasPrefix("PEMDocument has"), text.contains(" but not ") {
            // `PEMDocument has Optional("-----BEGIN X-----") but not "-----END <internals>-----"`
            if let begin = quoted.first, begin.hasPrefix("-----BEGIN "), begin.hasSuffix("-----") {
                let kind = begin.dropFirst("-----BEGIN ".count).dropLast("-----".count)
                return "\(begin) has no -----END \(kind)----- line after it"
            }
            return "a -----BEGIN----- line has no -----END----- line after it"
        }
        if text.contains("begin and end discriminator don't match") {
            if quoted.count == 2 { return "-----BEGIN \(quoted[0])----- is closed by -----END \(quoted[1])-----" }
            return "a block's -----BEGIN----- and -----END----- lines name different kinds"
        }
        if text.contains("not correctly base64 encoded") {
            return "the text between -----BEGIN----- and -----END----- is not base64"
        }
        if text.contains("incorrect line lengths") {
            return "its base64 lines must be 64 characters long (the last one up to 64), each ending in a line break"
        }
        if text.contains("has an empty body") {
            return "a block holds nothing between its -----BEGIN----- and -----END----- lines"
        }
        return String(text)
    }

    /// The strings between double quotes, in order.
    private static func quotedStrings(in text: Substring) -> [Substring] {
        text.split(separator: "\"", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
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

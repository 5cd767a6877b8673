import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The configuration delivered to a device: exactly the settings Palisade manages on it.
/// Its hash is the SHA-256 of its canonical JSON, so that server and agent agree on it
/// without exchanging the document.
public struct DeviceConfiguration: Sendable, Hashable, Codable {
    public var platform: PolicyPlatform
    public var settings: [String: JSONValue]

    public init(platform: PolicyPlatform, settings: [String: JSONValue]) {
        self.platform = platform
        self.settings = settings
    }

    public var hash: String {
        let data = (try? CanonicalJSON.data(self)) ?? Data()
        return "sha256:" + Digest.sha256Hex(data)
    }
}

/// Hex SHA-256 of bytes; used for token hashes and body digests.
public enum Digest {
    public static func sha256Hex<D: DataProtocol>(_ data: D) -> String {
        SHA256.hash(data: data).map { hexByte($0) }.joined()
    }

    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
    }
}

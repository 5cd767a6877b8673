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

    /// SHA-256 of `{"platform":...,"settings":{...}}` in canonical JSON (sorted keys, no
    /// whitespace), written directly: hashing is on every recompute of every device.
    public var hash: String {
        let document = JSONValue.object(["platform": .string(platform.rawValue), "settings": .object(settings)])
        return "sha256:" + Digest.sha256Hex(CanonicalJSON.bytes(document))
    }
}

/// Hex SHA-256 of bytes; used for token hashes and body digests.
public enum Digest {
    public static func sha256Hex<D: DataProtocol>(_ data: D) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: data) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

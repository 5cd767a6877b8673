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
    /// Set when another channel (an MDM) manages Defender's settings on the device and the
    /// tenant has not chosen to take over: the agent then writes and removes nothing.
    public var leaveUntouched: Bool?
    /// Why the device gets nothing, when it gets nothing on purpose.
    public var reason: String?

    public init(platform: PolicyPlatform, settings: [String: JSONValue], leaveUntouched: Bool? = nil, reason: String? = nil) {
        self.platform = platform
        self.settings = settings
        self.leaveUntouched = leaveUntouched
        self.reason = reason
    }

    /// SHA-256 of `{"platform":...,"settings":{...}[,"leaveUntouched":true]}` in canonical JSON
    /// (sorted keys, no whitespace), written directly: hashing is on every recompute of every
    /// device.
    public var hash: String {
        var document: [String: JSONValue] = ["platform": .string(platform.rawValue), "settings": .object(settings)]
        if leaveUntouched == true { document["leaveUntouched"] = true }
        return "sha256:" + Digest.sha256Hex(CanonicalJSON.bytes(.object(document)))
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

    /// Compares secrets (or their hashes) in time that does not depend on where they differ.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

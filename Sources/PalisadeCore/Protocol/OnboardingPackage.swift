#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What an admin hands to a device to enroll it: where the server is, which CA to trust for
/// it, and the enrollment token (a secret). `POST /api/v1/onboarding-packages` answers one;
/// `palisade agent enroll --package FILE` reads it. The agent reads only the fields it needs,
/// so the whole answer can be saved as the package file.
public struct OnboardingPackage: Codable, Sendable, Equatable {
    /// `palisade-onboarding-package/1`.
    public static let currentFormat = "palisade-onboarding-package/1"

    public var format: String
    /// The server the agent talks to (`--public-url` of the server).
    public var serverURL: String
    public var tenantId: String
    public var platform: DevicePlatform?
    /// The enrollment token's id (not secret) and the secret itself.
    public var enrollmentTokenId: String?
    public var enrollmentToken: String
    public var expiresAt: Date?
    /// The CA the agent pins (PEM) and its fingerprint; both absent when the server sits behind
    /// a proxy whose certificate chains to a public CA (the agent then uses the system's roots).
    public var caCertificate: String?
    public var caSHA256: String?
    /// Commands for the device's administrator: place the file, enroll, run as a service.
    public var installCommand: [String]?

    public init(serverURL: String, tenantId: String, platform: DevicePlatform?, enrollmentTokenId: String?, enrollmentToken: String,
                expiresAt: Date?, caCertificate: String?, caSHA256: String?, installCommand: [String]?) {
        self.format = Self.currentFormat
        self.serverURL = serverURL
        self.tenantId = tenantId
        self.platform = platform
        self.enrollmentTokenId = enrollmentTokenId
        self.enrollmentToken = enrollmentToken
        self.expiresAt = expiresAt
        self.caCertificate = caCertificate
        self.caSHA256 = caSHA256
        self.installCommand = installCommand
    }
}

import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import PalisadeCore

/// Onboarding packages: `POST /api/v1/onboarding-packages`. One JSON document with everything a
/// device needs to enroll over TLS: the server's public URL, the CA to pin and its fingerprint,
/// an enrollment token (created now, or an existing one whose secret the admin gives), and the
/// commands that install it on the platform. The answer itself is the package file.
struct OnboardingController {
    typealias Context = AdminRequestContext
    let settings: OnboardingSettings
    let enrollmentTokens: EnrollmentTokenService

    func addRoutes(to routes: AdminRoutes) {
        // A package carries an enrollment token: the same permission as creating one.
        routes.post("onboarding-packages", .manageEnrollmentTokens, use: create)
    }

    enum Platform: String, Decodable, CaseIterable {
        case linux, macos, windows
    }

    struct CreateBody: Decodable {
        var platform: Platform
        // A new token...
        var name: String?
        var expiresInHours: Int?
        var maxUses: Int?
        var allowReenrollment: Bool?
        // ...or an existing one, with its secret.
        var enrollmentTokenId: String?
        var enrollmentToken: String?
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(CreateBody.self, from: request, context: context)
        let tenant = context.tenant
        let tokenId: String, secret: String, expiresAt: Date
        let created: Bool
        if body.enrollmentTokenId != nil || body.enrollmentToken != nil {
            guard body.name == nil, body.expiresInHours == nil, body.maxUses == nil, body.allowReenrollment == nil else {
                throw PalisadeError.invalid("give either enrollmentTokenId with enrollmentToken (an existing token), or name and expiresInHours (a new token), not both")
            }
            guard let id = body.enrollmentTokenId else {
                throw PalisadeError.invalid("enrollmentTokenId is required with enrollmentToken", field: "enrollmentTokenId")
            }
            guard let given = body.enrollmentToken else {
                throw PalisadeError.invalid("enrollmentToken (the secret shown when the token was created) is required with enrollmentTokenId; the server keeps only its hash and cannot put it in a package by itself", field: "enrollmentToken")
            }
            let token = try await enrollmentTokens.usableToken(tenant: tenant, id: id, secret: given)
            (tokenId, secret, expiresAt, created) = (token.id, given, token.expiresAt, false)
        } else {
            guard let name = body.name else {
                throw PalisadeError.invalid("name is required to create an enrollment token for the package (or give enrollmentTokenId and enrollmentToken)", field: "name")
            }
            guard let hours = body.expiresInHours else {
                throw PalisadeError.invalid("expiresInHours is required to create an enrollment token for the package", field: "expiresInHours")
            }
            let token = try await enrollmentTokens.create(tenant: tenant, by: context.actor, name: name, expiresInHours: hours,
                                                              maxUses: body.maxUses, allowReenrollment: body.allowReenrollment ?? false)
            (tokenId, secret, expiresAt, created) = (token.record.id, token.token, token.record.expiresAt, true)
        }
        let package = Self.package(settings: settings, tenant: tenant, platform: body.platform, tokenId: tokenId, secret: secret, expiresAt: expiresAt)
        var response = try JSONBody.response(package, status: created ? .created : .ok)
        // The package holds a secret: no cache keeps it.
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// The file name the commands expect the package under, in the current directory.
    /// The package for a token: where the server is, the CA to pin, the token, and the commands.
    static func package(settings: OnboardingSettings, tenant: String, platform: Platform, tokenId: String, secret: String, expiresAt: Date) -> OnboardingPackage {
        let serverURL = settings.publicURL.value
        return OnboardingPackage(
            serverURL: serverURL, tenantId: tenant, platform: DevicePlatform(rawValue: platform.rawValue),
            enrollmentTokenId: tokenId, enrollmentToken: secret, expiresAt: expiresAt,
            caCertificate: settings.ca?.certificatePEM, caSHA256: settings.ca?.sha256,
            installCommand: installCommand(platform: platform, insecureHTTP: serverURL.hasPrefix("http://")))
    }

    static let packageFileName = "palisade-package.json"

    /// How to place the package, enroll, and run the agent as a service on `platform`. The
    /// package file is readable by root (Administrators) only and removed after enrollment.
    static func installCommand(platform: Platform, insecureHTTP: Bool) -> [String] {
        let insecure = insecureHTTP ? " --insecure-http" : ""
        switch platform {
        case .linux:
            return [
                "# as root, with /usr/local/bin/palisade installed and this answer saved as \(packageFileName):",
                "sudo install -d -m 0700 /etc/palisade",
                "sudo install -m 0600 \(packageFileName) /etc/palisade/package.json",
                "rm -f \(packageFileName)",
                "sudo /usr/local/bin/palisade agent enroll --package /etc/palisade/package.json --state-dir /var/lib/palisade\(insecure)",
                "sudo rm -f /etc/palisade/package.json",
                // A systemd unit (restart on failure, sandboxed), enabled and started.
                "sudo /usr/local/bin/palisade agent install-service --state-dir /var/lib/palisade",
            ]
        case .macos:
            let support = "/Library/Application Support/Palisade"
            return [
                "# as an administrator, with /usr/local/bin/palisade installed and this answer saved as \(packageFileName):",
                "sudo install -d -m 0700 \"\(support)\"",
                "sudo install -m 0600 \(packageFileName) \"\(support)/package.json\"",
                "rm -f \(packageFileName)",
                "sudo /usr/local/bin/palisade agent enroll --package \"\(support)/package.json\" --state-dir \"\(support)/state\"\(insecure)",
                "sudo rm -f \"\(support)/package.json\"",
                // A launchd daemon, bootstrapped into the system domain.
                "sudo /usr/local/bin/palisade agent install-service --state-dir \"\(support)/state\"",
            ]
        case .windows:
            let exe = "%ProgramFiles%\\Palisade\\palisade.exe"
            let data = "%ProgramData%\\Palisade"
            return [
                "REM in an elevated Command Prompt, with \(exe) installed and this answer saved as \(packageFileName):",
                "mkdir \"\(data)\"",
                "icacls \"\(data)\" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F",
                "move \(packageFileName) \"\(data)\\package.json\"",
                "\"\(exe)\" agent enroll --package \"\(data)\\package.json\" --state-dir \"\(data)\\state\"\(insecure)",
                "del \"\(data)\\package.json\"",
                // A scheduled task at start-up as SYSTEM, restarted on failure (see README).
                "\"\(exe)\" agent install-service --state-dir \"\(data)\\state\"",
            ]
        }
    }
}

/// What onboarding packages carry besides the token: the server's public URL and the CA
/// agents pin (nil when the server's certificate chains to a public CA, e.g. behind a proxy).
public struct OnboardingSettings: Sendable {
    public let publicURL: PublicURL
    public let ca: PinnedCA?

    public init(publicURL: PublicURL, ca: PinnedCA?) {
        self.publicURL = publicURL
        self.ca = ca
    }
}

/// The URL agents reach this server at: `--public-url`, or the listener's own address once it
/// is bound (a port 0 listener learns its port only then).
public final class PublicURL: Sendable {
    private let box: NIOLockedValueBox<String>

    public init(_ initial: String) {
        box = NIOLockedValueBox(initial)
    }

    public var value: String { box.withLockedValue { $0 } }

    func set(_ value: String) { box.withLockedValue { $0 = value } }
}

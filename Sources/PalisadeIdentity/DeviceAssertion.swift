import Crypto
import JWTKit
import PalisadeCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The claims a device signs for every request after enrollment (an ES256 JWT in the
/// `Authorization: PalisadeDevice <jwt>` header). Binding method, path and body hash to a
/// single-use id makes each assertion good for exactly one request.
public struct DeviceAssertion: JWTPayload, Equatable {
    /// The device id (issuer and subject).
    public var iss: IssuerClaim
    public var sub: SubjectClaim
    /// "<METHOD> <path>" of the request.
    public var aud: AudienceClaim
    public var iat: IssuedAtClaim
    public var exp: ExpirationClaim
    /// Single-use id: the server refuses a second request with the same one.
    public var jti: IDClaim
    /// Hex SHA-256 of the request body.
    public var bh: String

    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    public var expiresAt: Date { exp.value }
    public var assertionId: String { jti.value }
}

/// A device's P-256 key pair. The private key never leaves the device.
public struct DeviceKeyPair: Sendable {
    public let privateKeyPEM: String
    public let publicKeyPEM: String

    public static func generate() -> DeviceKeyPair {
        let key = P256.Signing.PrivateKey()
        return DeviceKeyPair(privateKeyPEM: key.pemRepresentation, publicKeyPEM: key.publicKey.pemRepresentation)
    }

    public init(privateKeyPEM: String) throws {
        let key = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        self.privateKeyPEM = privateKeyPEM
        self.publicKeyPEM = key.publicKey.pemRepresentation
    }

    private init(privateKeyPEM: String, publicKeyPEM: String) {
        self.privateKeyPEM = privateKeyPEM
        self.publicKeyPEM = publicKeyPEM
    }

    /// True when `pem` is a P-256 public key.
    public static func isValidPublicKey(_ pem: String) -> Bool {
        (try? P256.Signing.PublicKey(pemRepresentation: pem)) != nil
    }
}

/// Signs assertions with the device key.
public struct DeviceAssertionSigner: Sendable {
    public let deviceId: String
    private let keys: JWTKeyCollection
    private let clock: any WallClock
    public var lifetimeSeconds: Int64 = 60

    public init(deviceId: String, privateKeyPEM: String, clock: any WallClock = SystemWallClock()) async throws {
        self.deviceId = deviceId
        self.clock = clock
        self.keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(pem: privateKeyPEM))
    }

    public func assertion(method: String, path: String, body: some DataProtocol, now: Date? = nil) async throws -> String {
        let now = now ?? clock.now
        let payload = DeviceAssertion(
            iss: .init(value: deviceId), sub: .init(value: deviceId),
            aud: .init(value: DeviceProtocol.AssertionClaim.audience(method: method, path: path)),
            iat: .init(value: now), exp: .init(value: now.addingTimeInterval(Double(lifetimeSeconds))),
            jti: .init(value: UUID().uuidString), bh: Digest.sha256Hex(body))
        return try await keys.sign(payload)
    }

    public func authorizationHeader(method: String, path: String, body: some DataProtocol) async throws -> String {
        "\(DeviceProtocol.assertionScheme) " + (try await assertion(method: method, path: path, body: body))
    }
}

/// A device's public key, parsed from its PEM once.
public struct DeviceVerificationKey: Sendable {
    let key: ES256PublicKey

    public init?(pem: String) {
        guard let key = try? ES256PublicKey(pem: pem) else { return nil }
        self.key = key
    }
}

/// Why an assertion was refused: a value, so the server can answer with a precise code.
public enum AssertionCheck: Sendable, Equatable {
    case valid(DeviceAssertion)
    case invalid(reason: String)
}

/// Checks a device assertion against the device's stored public key and the request.
/// Replay (the `jti` seen before) is the server's to check, as it needs storage.
public enum DeviceAssertionVerifier {
    /// Every check, the body's hash included.
    public static func check(
        token: String, publicKeyPEM: String, deviceId: String,
        method: String, path: String, body: some DataProtocol, now: Date = Date()
    ) async -> AssertionCheck {
        let check = await check(token: token, publicKeyPEM: publicKeyPEM, deviceId: deviceId, method: method, path: path, now: now)
        if case .valid(let assertion) = check, !bodyMatches(assertion, body: body) {
            return .invalid(reason: "the request body does not match the signed body hash")
        }
        return check
    }

    /// Signature, device, audience and lifetime: everything but the body, which a server
    /// reads only once the rest holds.
    public static func check(
        token: String, publicKeyPEM: String, deviceId: String,
        method: String, path: String, now: Date
    ) async -> AssertionCheck {
        guard let key = DeviceVerificationKey(pem: publicKeyPEM) else {
            return .invalid(reason: "the device's stored public key is unusable")
        }
        return await check(token: token, key: key, deviceId: deviceId, method: method, path: path, now: now)
    }

    /// The same with a key parsed once (the server caches it per device: parsing the PEM
    /// costs more than verifying the signature).
    public static func check(
        token: String, key: DeviceVerificationKey, deviceId: String,
        method: String, path: String, now: Date
    ) async -> AssertionCheck {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key.key)
        let assertion: DeviceAssertion
        do {
            assertion = try await keys.verify(token, as: DeviceAssertion.self)
        } catch {
            return .invalid(reason: "the assertion's signature does not verify with the device key")
        }
        if assertion.sub.value != deviceId || assertion.iss.value != deviceId {
            return .invalid(reason: "the assertion is for device \(assertion.sub.value), not \(deviceId)")
        }
        let audience = DeviceProtocol.AssertionClaim.audience(method: method, path: path)
        do {
            try assertion.aud.verifyIntendedAudience(includes: audience)
        } catch {
            return .invalid(reason: "the assertion is for \(assertion.aud.value.joined(separator: ", ")), not \(audience)")
        }
        // Whole milliseconds, as the server keeps used assertion ids until expiry plus skew (in
        // milliseconds): an id is accepted only while it is still remembered. jwt-kit's checks
        // are strict (expired at the instant of `exp`, not valid at the instant of `nbf`), and an
        // assertion is accepted up to and including expiry plus skew, and from its issue minus
        // skew on: hence the millisecond each check date is moved by.
        let nowMillis = Self.millis(now)
        let issued = Self.millis(assertion.iat.value)
        let expires = Self.millis(assertion.exp.value)
        let skew = DeviceProtocol.allowedClockSkewSeconds * 1000
        do {
            try ExpirationClaim(value: Self.date(millis: expires)).verifyNotExpired(currentDate: Self.date(millis: nowMillis - skew - 1))
        } catch {
            return .invalid(reason: "the assertion expired at \(assertion.exp.value.ISO8601Format())")
        }
        do {
            // jwt-kit checks no `iat`; one in the future is an assertion not valid before then.
            try NotBeforeClaim(value: Self.date(millis: issued)).verifyNotBefore(currentDate: Self.date(millis: nowMillis + skew + 1))
        } catch {
            return .invalid(reason: "the assertion was issued in the future (check the device clock)")
        }
        if expires - issued > DeviceProtocol.maximumAssertionLifetimeSeconds * 1000 {
            return .invalid(reason: "the assertion lives longer than \(DeviceProtocol.maximumAssertionLifetimeSeconds) s")
        }
        return .valid(assertion)
    }

    /// Signed times are clamped to this many milliseconds either side of 1970 (about 31,700
    /// years): a signed `exp` of 1e300 must be refused, not trap converting to Int64.
    static let millisLimit: Double = 1e15

    /// A time in whole milliseconds since 1970, rounded down (clamped to `millisLimit`).
    public static func millis(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded(.down)
        guard value.isFinite else { return value > 0 ? Int64(millisLimit) : -Int64(millisLimit) }
        return Int64(min(max(value, -millisLimit), millisLimit))
    }

    static func date(millis: Int64) -> Date {
        Date(timeIntervalSince1970: Double(millis) / 1000)
    }

    public static func bodyMatches(_ assertion: DeviceAssertion, body: some DataProtocol) -> Bool {
        assertion.bh == Digest.sha256Hex(body)
    }
}

extension DeviceAssertionVerifier {
    /// The device id an assertion claims, read without verifying it: the server needs it to
    /// find the key that verifies the assertion.
    public static func claimedDeviceId(in token: String) -> String? {
        // Bytes, not Characters, and only `sub` decoded: this runs on every device request.
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].map { $0 == UInt8(ascii: "-") ? UInt8(ascii: "+") : $0 == UInt8(ascii: "_") ? UInt8(ascii: "/") : $0 }
        base64 += repeatElement(UInt8(ascii: "="), count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: Data(base64)),
              let claims = try? JSONDecoder().decode(Subject.self, from: data) else { return nil }
        return claims.sub
    }

    private struct Subject: Decodable {
        var sub: String
    }
}

import Foundation
import PalisadeCore
import PalisadeIdentity
import Testing

/// Device assertions with real P-256 key pairs and ES256 signatures.
@Suite struct DeviceAssertionTests {
    let keys = DeviceKeyPair.generate()
    let body = Array(#"{"configurationHash":null}"#.utf8)

    func check(_ token: String, key: String? = nil, device: String = "dev-1", path: String = "/device/v1/check-in", body: [UInt8]? = nil, now: Date = Date()) async -> AssertionCheck {
        await DeviceAssertionVerifier.check(token: token, publicKeyPEM: key ?? keys.publicKeyPEM, deviceId: device, method: "POST", path: path, body: body ?? self.body, now: now)
    }

    @Test func aFreshAssertionVerifies() async throws {
        let signer = try await DeviceAssertionSigner(deviceId: "dev-1", privateKeyPEM: keys.privateKeyPEM)
        let token = try await signer.assertion(method: "POST", path: "/device/v1/check-in", body: body)
        guard case .valid(let assertion) = await check(token) else {
            Issue.record("a fresh assertion did not verify")
            return
        }
        #expect(assertion.sub.value == "dev-1")
        #expect(DeviceAssertionVerifier.claimedDeviceId(in: token) == "dev-1")
    }

    @Test func refusals() async throws {
        let signer = try await DeviceAssertionSigner(deviceId: "dev-1", privateKeyPEM: keys.privateKeyPEM)
        let token = try await signer.assertion(method: "POST", path: "/device/v1/check-in", body: body)
        let other = DeviceKeyPair.generate()
        let cases: [(AssertionCheck, String)] = [
            (await check(token, key: other.publicKeyPEM), "signature"),
            (await check(token, device: "dev-2"), "not dev-2"),
            (await check(token, path: "/device/v1/reports"), "not POST /device/v1/reports"),
            (await check(token, body: Array("{}".utf8)), "body"),
            (await check(token, now: Date().addingTimeInterval(600)), "expired"),
            (await check(token, now: Date().addingTimeInterval(-600)), "future"),
            (await check("not.a.jwt"), "signature"),
        ]
        for (result, reason) in cases {
            guard case .invalid(let message) = result else {
                Issue.record("expected refusal mentioning \(reason)")
                continue
            }
            #expect(message.contains(reason), "\(message) should mention \(reason)")
        }
    }

    /// Expiry, issue time and audience through jwt-kit's claim checks, with the skew and the
    /// millisecond boundaries the server always had: accepted up to and including expiry plus
    /// the allowed skew, and from issue minus the skew on.
    @Test func anExpiredOrNotYetIssuedAssertionIsRefusedAtTheSkewBoundary() async throws {
        let signer = try await DeviceAssertionSigner(deviceId: "dev-1", privateKeyPEM: keys.privateKeyPEM)
        let issued = Date(timeIntervalSince1970: 1_750_000_000)
        let token = try await signer.assertion(method: "POST", path: "/device/v1/check-in", body: body, now: issued)
        let skew = TimeInterval(DeviceProtocol.allowedClockSkewSeconds)
        let expires = issued.addingTimeInterval(TimeInterval(signer.lifetimeSeconds))

        for now in [issued, expires, expires.addingTimeInterval(skew), issued.addingTimeInterval(-skew)] {
            guard case .valid = await check(token, now: now) else {
                Issue.record("refused at \(now.timeIntervalSince(issued)) s after issue")
                continue
            }
        }
        guard case .invalid(let expired) = await check(token, now: expires.addingTimeInterval(skew + 0.001)) else {
            Issue.record("accepted one millisecond past expiry plus skew")
            return
        }
        #expect(expired == "the assertion expired at \(expires.ISO8601Format())")
        guard case .invalid(let early) = await check(token, now: issued.addingTimeInterval(-skew - 0.001)) else {
            Issue.record("accepted one millisecond before issue minus skew")
            return
        }
        #expect(early == "the assertion was issued in the future (check the device clock)")
    }

    @Test func anAssertionForAnotherRequestIsRefused() async throws {
        let signer = try await DeviceAssertionSigner(deviceId: "dev-1", privateKeyPEM: keys.privateKeyPEM)
        let token = try await signer.assertion(method: "POST", path: "/device/v1/check-in", body: body)
        for (method, path) in [("GET", "/device/v1/check-in"), ("POST", "/device/v1/reports"), ("POST", "/device/v1/check-in/")] {
            let result = await DeviceAssertionVerifier.check(token: token, publicKeyPEM: keys.publicKeyPEM, deviceId: "dev-1", method: method, path: path, body: body)
            #expect(result == .invalid(reason: "the assertion is for POST /device/v1/check-in, not \(method) \(path)"))
        }
    }

    @Test func anAssertionLivingLongerThanAllowedIsRefused() async throws {
        var signer = try await DeviceAssertionSigner(deviceId: "dev-1", privateKeyPEM: keys.privateKeyPEM)
        signer.lifetimeSeconds = DeviceProtocol.maximumAssertionLifetimeSeconds
        guard case .valid = await check(try await signer.assertion(method: "POST", path: "/device/v1/check-in", body: body)) else {
            Issue.record("an assertion of the longest allowed lifetime was refused")
            return
        }
        signer.lifetimeSeconds += 1
        #expect(await check(try await signer.assertion(method: "POST", path: "/device/v1/check-in", body: body)) == .invalid(reason: "the assertion lives longer than 300 s"))
    }

    /// A device's own key can sign any times: absurd ones are refused, never a crash of the
    /// server converting them to milliseconds.
    @Test func anAssertionWithAnAbsurdExpiryIsRefusedWithoutTrapping() async throws {
        var signer = try await DeviceAssertionSigner(deviceId: "dev-1", privateKeyPEM: keys.privateKeyPEM)
        signer.lifetimeSeconds = 1 << 60
        #expect(await check(try await signer.assertion(method: "POST", path: "/device/v1/check-in", body: body)) == .invalid(reason: "the assertion lives longer than 300 s"))
        #expect(DeviceAssertionVerifier.millis(Date(timeIntervalSince1970: 1e300)) == 1_000_000_000_000_000)
        #expect(DeviceAssertionVerifier.millis(Date(timeIntervalSince1970: -.infinity)) == -1_000_000_000_000_000)
    }

    @Test func publicKeysAreChecked() {
        #expect(DeviceKeyPair.isValidPublicKey(keys.publicKeyPEM))
        #expect(!DeviceKeyPair.isValidPublicKey("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"))
        #expect(!DeviceKeyPair.isValidPublicKey(keys.privateKeyPEM))
    }
}

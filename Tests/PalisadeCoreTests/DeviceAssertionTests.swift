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

    @Test func publicKeysAreChecked() {
        #expect(DeviceKeyPair.isValidPublicKey(keys.publicKeyPEM))
        #expect(!DeviceKeyPair.isValidPublicKey("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"))
        #expect(!DeviceKeyPair.isValidPublicKey(keys.privateKeyPEM))
    }
}

import Foundation
import PalisadeCore
import PalisadeIdentity

/// `palisade-bench checkin-profile`: the CPU cost of each step of an unchanged check-in that
/// needs no I/O (signature check, claims, body decoding), per call, to see where the time goes.
enum CheckInProfile {
    static func run(iterations: Int = 5_000) async throws {
        let keys = DeviceKeyPair.generate()
        var signer = try await DeviceAssertionSigner(deviceId: "device-1", privateKeyPEM: keys.privateKeyPEM)
        signer.lifetimeSeconds = 240
        let inventory = DeviceProtocol.Inventory(hostname: "bench", platform: .linux, osVersion: "Ubuntu 24.04", hardwareId: "hw", agentVersion: "bench", mdmEnrolled: false, tags: [])
        let body = Array(try CanonicalJSON.data(DeviceProtocol.CheckInRequest(configurationHash: "sha256:0123", waitSeconds: 0, inventory: inventory)))
        var tokens: [String] = []
        for _ in 0..<iterations { tokens.append(try await signer.assertion(method: "POST", path: "/device/v1/check-in", body: body)) }
        let key = try Self.require(DeviceVerificationKey(pem: keys.publicKeyPEM))
        let clock = ContinuousClock()
        func report(_ name: String, _ elapsed: Duration) {
            print(String(format: "%-28@ %8.1f µs per call", name as NSString, Double(elapsed.components.attoseconds) / 1e12 / Double(iterations) + Double(elapsed.components.seconds) * 1e6 / Double(iterations)))
        }
        var started = clock.now
        for token in tokens { _ = DeviceAssertionVerifier.claimedDeviceId(in: token) }
        report("claimedDeviceId", clock.now - started)
        started = clock.now
        for _ in 0..<iterations { _ = DeviceVerificationKey(pem: keys.publicKeyPEM) }
        report("parse PEM key", clock.now - started)
        started = clock.now
        for token in tokens { _ = await DeviceAssertionVerifier.check(token: token, key: key, deviceId: "device-1", method: "POST", path: "/device/v1/check-in", now: Date()) }
        report("verify (cached key)", clock.now - started)
        started = clock.now
        for _ in 0..<iterations { _ = Digest.sha256Hex(body) }
        report("body hash", clock.now - started)
        started = clock.now
        for _ in 0..<iterations { _ = try JSONDecoder().decode(DeviceProtocol.CheckInRequest.self, from: Data(body)) }
        report("decode body", clock.now - started)
        let response = DeviceProtocol.CheckInResponse(status: .unchanged, configurationHash: "sha256:0123", configuration: nil)
        started = clock.now
        for _ in 0..<iterations { _ = try CanonicalJSON.data(response) }
        report("encode answer (canonical)", clock.now - started)
        started = clock.now
        for _ in 0..<iterations { _ = try JSONEncoder().encode(response) }
        report("encode answer (JSONEncoder)", clock.now - started)
    }

    struct Missing: Error {}
    static func require<T>(_ value: T?) throws -> T { guard let value else { throw Missing() }; return value }
}


import Foundation
import Hummingbird
import Logging
import NIOCore
import PalisadeCore
import PalisadeIdentity

/// Device protocol authentication after enrollment: every request carries a single-use ES256
/// assertion signed by the device key, bound to method, path and body hash. The header, the
/// device and the signature are checked before the body is read, so an unauthenticated caller
/// cannot make the server buffer a megabyte; then the body's hash and the assertion's single
/// use. The verified device reaches the handler in the context, with the body it signed.
struct DeviceAssertionMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Checked in a function of its own: this frame stays allocated while a check-in is
        // held as a long-poll, and should not carry the verification's locals (issue 12).
        let (request, context) = try await authenticated(request, context: context)
        return try await next(request, context)
    }

    /// The request with the body it signed, and the context with the verified device.
    @inline(never)
    func authenticated(_ request: Request, context: Context) async throws -> (Request, Context) {
        let (device, assertion) = try await verifiedSigner(of: request)
        let body = try await JSONBody.collect(request, context: context)
        guard DeviceAssertionVerifier.bodyMatches(assertion, body: body.readableBytesView) else {
            throw PalisadeError(.unauthorized, code: .assertionInvalid, message: "the request body does not match the signed body hash")
        }
        try await recordSingleUse(assertion, device: device.deviceId)
        var request = request
        request.body = .init(buffer: body)
        var context = context
        context.device = device
        context.logger[metadataKey: "device"] = .string(device.deviceId)
        return (request, context)
    }

    /// The enrolled device that signed the request's assertion (signature, claims and status
    /// checked; the body not read yet).
    func verifiedSigner(of request: Request) async throws -> (DeviceCredentials, DeviceAssertion) {
        let scheme = DeviceProtocol.assertionScheme + " "
        guard let header = request.headers[.authorization], header.hasPrefix(scheme) else {
            throw PalisadeError(.unauthorized, code: .assertionInvalid, message: "send a device assertion as Authorization: \(scheme)<jwt>")
        }
        let token = String(header.dropFirst(scheme.count))
        guard let deviceId = DeviceAssertionVerifier.claimedDeviceId(in: token) else {
            throw PalisadeError(.unauthorized, code: .assertionInvalid, message: "the device assertion is not a readable JWT")
        }
        guard let (device, key) = try await DeviceProtocolService(store: store).cachedCredentials(deviceId: deviceId) else {
            throw PalisadeError(.unauthorized, code: .deviceUnknown, message: "device \(deviceId) is not enrolled here; enroll again")
        }
        let check: AssertionCheck = if let key {
            await DeviceAssertionVerifier.check(token: token, key: key, deviceId: deviceId, method: request.method.rawValue, path: request.uri.path, now: store.clock.now)
        } else {
            .invalid(reason: "the device's stored public key is unusable")
        }
        guard case .valid(let assertion) = check else {
            if let pending = device.pendingPublicKeyPEM, case .valid = await DeviceAssertionVerifier.check(
                token: token, publicKeyPEM: pending, deviceId: deviceId, method: request.method.rawValue, path: request.uri.path, now: store.clock.now) {
                throw PalisadeError(.forbidden, code: .reenrollmentPending,
                                    message: "this device's new key waits for an administrator to approve the re-enrollment of device \(deviceId)")
            }
            if case .invalid(let reason) = check {
                throw PalisadeError(.unauthorized, code: .assertionInvalid, message: reason)
            }
            throw PalisadeError(.unauthorized, code: .assertionInvalid, message: "invalid assertion")
        }
        guard device.status == .enrolled else {
            throw PalisadeError(.forbidden, code: .deviceRetired, message: "device \(deviceId) was retired by an administrator; enroll again with a new token to manage it")
        }
        return (device, assertion)
    }

    /// Remembers the assertion's id until it expires (plus skew): a second use is refused.
    func recordSingleUse(_ assertion: DeviceAssertion, device deviceId: String) async throws {
        let expiresAt = DeviceAssertionVerifier.millis(assertion.expiresAt) + DeviceProtocol.allowedClockSkewSeconds * 1000
        guard try await DeviceProtocolService(store: store).recordAssertion(deviceId: deviceId, jti: assertion.assertionId, expiresAt: expiresAt) else {
            throw PalisadeError(.unauthorized, code: .assertionReplayed, message: "this assertion was already used; each request needs a fresh one")
        }
    }
}

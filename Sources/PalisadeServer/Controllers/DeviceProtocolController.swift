import Foundation
import Hummingbird
import Logging
import NIOCore
import PalisadeCore
import PalisadeIdentity

/// The device protocol under `/device/v1` (docs/PROTOCOL.md): enroll, check-in (long-poll),
/// status reports. Every call after enrollment carries a single-use assertion signed by the
/// device key.
struct DeviceProtocolController {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func addRoutes(to group: RouterGroup<Context>) {
        group.post("enroll", use: enroll)
        group.post("check-in", use: checkIn)
        group.post("reports", use: report)
    }

    @Sendable func enroll(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(DeviceProtocol.EnrollRequest.self, from: request, context: context)
        guard DeviceKeyPair.isValidPublicKey(body.publicKey) else {
            throw PalisadeError(.badRequest, code: "invalid_public_key", message: "publicKey must be a PEM P-256 public key", details: ["field": "publicKey"])
        }
        try Self.validate(body.inventory, field: "inventory")
        let response = try await store.enroll(body)
        context.logger.info("device enrolled", metadata: ["device": "\(response.deviceId)", "reenrolled": "\(response.reenrolled)"])
        return try JSONBody.response(response, status: .created)
    }

    @Sendable func checkIn(_ request: Request, context: Context) async throws -> Response {
        let (device, buffer) = try await authenticate(request, context: context)
        let body = try JSONBody.decode(DeviceProtocol.CheckInRequest.self, from: buffer)
        if let inventory = body.inventory { try Self.validate(inventory, field: "inventory") }
        let wait = min(max(body.waitSeconds ?? 0, 0), DeviceProtocol.maximumWaitSeconds)

        // Subscribe before reading the hash, so that a change in between is not missed.
        let subscription = wait > 0 ? await store.notifier.subscribe(device.deviceId) : nil
        var hash = try await store.configurationHash(deviceId: device.deviceId)
        if let subscription, hash == body.configurationHash {
            _ = await subscription.next(timeout: .seconds(wait))
            hash = try await store.configurationHash(deviceId: device.deviceId)
        }
        if let subscription { await store.notifier.unsubscribe(subscription) }

        if let hash, hash == body.configurationHash {
            try await store.recordCheckIn(deviceId: device.deviceId, tenant: device.tenantId, inventory: body.inventory, deliveredHash: nil)
            return try JSONBody.response(DeviceProtocol.CheckInResponse(status: .unchanged, configurationHash: hash, configuration: nil))
        }
        let configuration = try await store.effectiveConfiguration(deviceId: device.deviceId)?.deviceConfiguration
            ?? DeviceConfiguration(platform: .linux, settings: [:])
        let deliveredHash = configuration.hash
        try await store.recordCheckIn(deviceId: device.deviceId, tenant: device.tenantId, inventory: body.inventory, deliveredHash: deliveredHash)
        return try JSONBody.response(DeviceProtocol.CheckInResponse(status: .changed, configurationHash: deliveredHash, configuration: configuration))
    }

    @Sendable func report(_ request: Request, context: Context) async throws -> Response {
        let (device, buffer) = try await authenticate(request, context: context)
        let body = try JSONBody.decode(DeviceProtocol.StatusReport.self, from: buffer)
        guard body.results.count <= 1_000 else {
            throw PalisadeError.invalid("a report holds at most 1000 results, got \(body.results.count)", field: "results")
        }
        if let index = body.results.firstIndex(where: { $0.settingId.isEmpty }) {
            throw PalisadeError.invalid("results[\(index)].settingId is empty", field: "results[\(index)].settingId")
        }
        let current = try await store.recordReport(deviceId: device.deviceId, tenant: device.tenantId, report: body)
        return try JSONBody.response(DeviceProtocol.StatusReportResponse(current: current))
    }

    /// Verifies the request's assertion against the device key and records its single-use id.
    func authenticate(_ request: Request, context: Context) async throws -> (DeviceCredentials, ByteBuffer) {
        let buffer = try await JSONBody.collect(request, context: context)
        let scheme = DeviceProtocol.assertionScheme + " "
        guard let header = request.headers[.authorization], header.hasPrefix(scheme) else {
            throw PalisadeError(.unauthorized, code: DeviceProtocol.ErrorCode.assertionInvalid, message: "send a device assertion as Authorization: \(scheme)<jwt>")
        }
        let token = String(header.dropFirst(scheme.count))
        guard let deviceId = DeviceAssertionVerifier.claimedDeviceId(in: token) else {
            throw PalisadeError(.unauthorized, code: DeviceProtocol.ErrorCode.assertionInvalid, message: "the device assertion is not a readable JWT")
        }
        guard let device = try await store.deviceCredentials(deviceId: deviceId) else {
            throw PalisadeError(.unauthorized, code: DeviceProtocol.ErrorCode.deviceUnknown, message: "device \(deviceId) is not enrolled here; enroll again")
        }
        let check = await DeviceAssertionVerifier.check(
            token: token, publicKeyPEM: device.publicKeyPEM, deviceId: deviceId,
            method: request.method.rawValue, path: request.uri.path, body: buffer.readableBytesView)
        guard case .valid(let assertion) = check else {
            if case .invalid(let reason) = check {
                throw PalisadeError(.unauthorized, code: DeviceProtocol.ErrorCode.assertionInvalid, message: reason)
            }
            throw PalisadeError(.unauthorized, code: DeviceProtocol.ErrorCode.assertionInvalid, message: "invalid assertion")
        }
        guard device.status == .enrolled else {
            throw PalisadeError(.forbidden, code: DeviceProtocol.ErrorCode.deviceRetired, message: "device \(deviceId) was retired by an administrator; enroll again with a new token to manage it")
        }
        let expiresAt = Int64(assertion.expiresAt.timeIntervalSince1970 * 1000) + DeviceProtocol.allowedClockSkewSeconds * 1000
        guard try await store.recordAssertion(deviceId: deviceId, jti: assertion.assertionId, expiresAt: expiresAt) else {
            throw PalisadeError(.unauthorized, code: DeviceProtocol.ErrorCode.assertionReplayed, message: "this assertion was already used; each request needs a fresh one")
        }
        context.logger.debug("device authenticated", metadata: ["device": "\(deviceId)"])
        return (device, buffer)
    }

    static func validate(_ inventory: DeviceProtocol.Inventory, field: String) throws {
        let limits: [(String, String, ClosedRange<Int>)] = [
            ("hostname", inventory.hostname, 1...255),
            ("hardwareId", inventory.hardwareId, 1...256),
            ("osVersion", inventory.osVersion, 0...200),
            ("agentVersion", inventory.agentVersion, 0...100),
        ]
        for (name, value, range) in limits where !range.contains(value.count) {
            throw PalisadeError.invalid("\(field).\(name) must be \(range.lowerBound) to \(range.upperBound) characters, got \(value.count)", field: "\(field).\(name)")
        }
        _ = try PalisadeStore.validatedTags(inventory.tags ?? [], field: "\(field).tags")
    }
}

import Foundation
import Hummingbird
import Logging
import NIOCore
import PalisadeCore
import PalisadeIdentity

/// The device protocol under `/device/v1` (docs/PROTOCOL.md): enroll with a token, then
/// check-in (long-poll) and status reports behind `DeviceAssertionMiddleware`.
struct DeviceProtocolController {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore
    let devices: DeviceProtocolService
    /// Enrollment attempts per source address, and check-ins and reports per device: a
    /// misbehaving or hostile agent is answered 429 with Retry-After instead of load.
    let enrollments: RateLimiter
    let deviceRequests: RateLimiter
    /// Sent with every check-in answer (`palisade serve --check-in-interval` ...).
    let schedule: DeviceProtocol.CheckInSchedule?

    init(store: PalisadeStore, rateLimits: DeviceRateLimits = .init(), schedule: DeviceProtocol.CheckInSchedule? = nil) {
        self.store = store
        self.devices = DeviceProtocolService(store: store)
        self.schedule = schedule.flatMap { $0.isEmpty ? nil : $0 }
        enrollments = RateLimiter(limit: rateLimits.enrollmentsPerMinute, window: .seconds(60), clock: store.clock)
        deviceRequests = RateLimiter(limit: rateLimits.deviceRequestsPerMinute, window: .seconds(60), clock: store.clock)
    }

    /// Reports name at most this much text per result and overall.
    static let maximumResultDetail = 1_024
    static let maximumReportDetail = 4_096

    /// Device routes answer to a device's own proof (an enrollment token, then its key), not
    /// to roles.
    func addRoutes(to group: RouterGroup<Context>, access: RouteAccess, prefix: String) {
        for path in ["enroll", "check-in", "reports"] { access.record(method: "POST", path: prefix + "/" + path, .publicRoute) }
        group.post("enroll", use: enroll)
        let authenticated = group.group().add(middleware: DeviceAssertionMiddleware(store: store)).group(context: DeviceRequestContext.self)
        authenticated.post("check-in", use: checkIn)
        authenticated.post("reports", use: report)
    }

    @Sendable func enroll(_ request: Request, context: Context) async throws -> Response {
        let source = context.sourceAddress ?? "unknown"
        try enrollments.consume("enroll:\(source)", what: "enrollment attempts from \(source)")
        let buffer = try await JSONBody.collect(request, context: context)
        let body = try JSONBody.decode(DeviceProtocol.EnrollRequest.self, from: buffer)
        do {
            let response = try await enroll(body, buffer: buffer, request: request, context: context)
            store.metrics.enrollment(outcome: response.status == .accepted ? "pending_approval" : "enrolled")
            return response
        } catch let error where PalisadeError.refusal(error).map({ Self.recordedRefusals.contains($0.code) }) ?? false {
            let refusal = PalisadeError.refusal(error)!
            store.metrics.enrollment(outcome: refusal.code.rawValue)
            // Kept for the enrollment report; recording must not change the answer.
            do {
                try await devices.recordRefusedEnrollment(enrollmentToken: body.enrollmentToken, sourceAddress: context.sourceAddress, inventory: body.inventory,
                                                        code: refusal.code.rawValue, reason: refusal.message)
            } catch {
                context.logger.error("could not record a refused enrollment", metadata: ["error": "\(error)"])
            }
            throw error
        }
    }

    /// Refusals about the token, the key or the proof: the enrollment report lists them.
    /// Malformed requests and rate-limited ones are not recorded.
    static let recordedRefusals: Set<PalisadeError.Code> = [
        .invalidPublicKey, .enrollmentTokenInvalid, .enrollmentTokenExpired, .enrollmentTokenExhausted,
        .assertionInvalid, .assertionReplayed, .deviceRetired, .deviceUnknown,
    ]

    private func enroll(_ body: DeviceProtocol.EnrollRequest, buffer: ByteBuffer, request: Request, context: Context) async throws -> Response {
        guard DeviceKeyPair.isValidPublicKey(body.publicKey) else {
            throw PalisadeError(.badRequest, code: .invalidPublicKey, message: "publicKey must be a PEM P-256 public key", details: ["field": "publicKey"])
        }
        try body.inventory.validated(field: "inventory")
        // An agent re-enrolling from its own state may sign the request with its current key:
        // that proves it is the device, so a new key replaces the old one at once.
        var provenBy: String?
        if request.headers[.authorization] != nil {
            let assertions = DeviceAssertionMiddleware(store: store)
            let (device, assertion) = try await assertions.verifiedSigner(of: request)
            guard DeviceAssertionVerifier.bodyMatches(assertion, body: buffer.readableBytesView) else {
                throw PalisadeError(.unauthorized, code: .assertionInvalid, message: "the request body does not match the signed body hash")
            }
            try await assertions.recordSingleUse(assertion, device: device.deviceId)
            provenBy = device.deviceId
        }
        let response = try await devices.enroll(body, sourceAddress: context.sourceAddress, provenBy: provenBy)
        context.logger.info("device enrolled", metadata: ["device": "\(response.deviceId)", "reenrolled": "\(response.reenrolled)", "pending": "\(response.pendingApproval ?? false)"])
        return try JSONBody.response(response, status: response.pendingApproval == true ? .accepted : .created)
    }

    /// A check-in the device sent, read and checked.
    struct AcceptedCheckIn: Sendable {
        var device: DeviceCredentials
        var body: DeviceProtocol.CheckInRequest
        var waitSeconds: Int
    }

    /// A held long-poll keeps its connection task's async frames, and a Swift task keeps the
    /// memory of its deepest call until it ends: so the work before and after the wait runs in
    /// functions of their own (`@inline(never)`), and the frame held through the wait stays
    /// small (issue 12: server memory per held long-poll).
    @Sendable func checkIn(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let accepted = try await acceptCheckIn(request, context: context)
        let state = try await store.notifier.withSubscription(to: accepted.device.deviceId, if: accepted.waitSeconds > 0) { subscription in
            try await checkInState(accepted, waitingWith: subscription)
        }
        return try await answerCheckIn(accepted, state: state, logger: context.logger)
    }

    @inline(never)
    func acceptCheckIn(_ request: Request, context: DeviceRequestContext) async throws -> AcceptedCheckIn {
        let device = context.device
        try deviceRequests.consume(device.deviceId, what: "requests from device \(device.deviceId)")
        let body = try await JSONBody.decode(DeviceProtocol.CheckInRequest.self, from: request, context: context)
        try body.inventory?.validated(field: "inventory")
        return AcceptedCheckIn(device: device, body: body, waitSeconds: min(max(body.waitSeconds ?? 0, 0), DeviceProtocol.maximumWaitSeconds))
    }

    /// The device's state; with a subscription (subscribed before this read, so that a change
    /// in between is not missed), after waiting for a change when nothing is new. A pending
    /// "sync now", or a report the server lacks, answers at once, like a change.
    @inline(never)
    func checkInState(_ accepted: AcceptedCheckIn, waitingWith subscription: ConfigurationChangeNotifier.Subscription?) async throws -> CheckInState {
        let (deviceId, tenant, deviceHash) = (accepted.device.deviceId, accepted.device.tenantId, accepted.body.configurationHash)
        let state = try await devices.checkInState(deviceId: deviceId, tenant: tenant, deviceHash: deviceHash)
        guard let subscription, state.configurationHash == deviceHash, !state.reportRequested else { return state }
        _ = await subscription.next(timeout: .seconds(accepted.waitSeconds))
        return try await devices.checkInState(deviceId: deviceId, tenant: tenant, deviceHash: deviceHash)
    }

    @inline(never)
    func answerCheckIn(_ accepted: AcceptedCheckIn, state: CheckInState, logger: Logger) async throws -> Response {
        let (device, body) = (accepted.device, accepted.body)
        if let hash = state.configurationHash, hash == body.configurationHash, !state.reportRequested {
            try await devices.recordCheckIn(deviceId: device.deviceId, tenant: device.tenantId, inventory: body.inventory, deliveredHash: nil)
            store.metrics.checkIn(outcome: "unchanged")
            return try JSONBody.response(DeviceProtocol.CheckInResponse(status: .unchanged, configurationHash: hash, configuration: nil, schedule: schedule))
        }
        // A sync request is answered with the whole configuration even when it is unchanged:
        // agents that predate `reportRequested` then apply it and report as after any change.
        let deliverable = try await devices.deliverableConfiguration(deviceId: device.deviceId, tenant: device.tenantId)
        let configuration = deliverable?.configuration ?? DeviceConfiguration(platform: .linux, settings: [:])
        let deliveredHash = deliverable?.hash ?? configuration.hash
        try await devices.recordCheckIn(deviceId: device.deviceId, tenant: device.tenantId, inventory: body.inventory, deliveredHash: deliveredHash)
        if state.syncDue { try await devices.recordSyncDelivered(deviceId: device.deviceId, tenant: device.tenantId) }
        if state.reportMissing, !state.syncDue {
            logger.info("the device holds its current configuration but no report of it is stored; asked for one", metadata: ["device": "\(device.deviceId)"])
            store.metrics.checkIn(outcome: "report_requested")
        } else {
            store.metrics.checkIn(outcome: "changed")
        }
        return try JSONBody.response(DeviceProtocol.CheckInResponse(status: .changed, configurationHash: deliveredHash, configuration: configuration,
                                                                    reportRequested: state.reportRequested ? true : nil, schedule: schedule))
    }

    @Sendable func report(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let device = context.device
        try deviceRequests.consume(device.deviceId, what: "requests from device \(device.deviceId)")
        let body = try await JSONBody.decode(DeviceProtocol.StatusReport.self, from: request, context: context)
        guard body.results.count <= 1_000 else {
            throw PalisadeError.invalid("a report holds at most 1000 results, got \(body.results.count)", field: "results")
        }
        if let detail = body.detail, detail.count > Self.maximumReportDetail {
            throw PalisadeError.invalid("detail holds at most \(Self.maximumReportDetail) characters, got \(detail.count)", field: "detail")
        }
        if let index = body.results.firstIndex(where: { ($0.detail?.count ?? 0) > Self.maximumResultDetail }) {
            throw PalisadeError.invalid("results[\(index)].detail holds at most \(Self.maximumResultDetail) characters", field: "results[\(index)].detail")
        }
        if let index = body.results.firstIndex(where: { $0.settingId.isEmpty }) {
            throw PalisadeError.invalid("results[\(index)].settingId is empty", field: "results[\(index)].settingId")
        }
        try Self.validateDrift(body.drift ?? [])
        let outcome = try await devices.recordReport(deviceId: device.deviceId, tenant: device.tenantId, report: body)
        store.metrics.reportIngested()
        guard case .outdated(let current) = outcome else {
            return try JSONBody.response(DeviceProtocol.StatusReportResponse(current: true))
        }
        // Never a 200 for a report that settles nothing: the agent drops it and checks in,
        // which brings it the current configuration (its drift events were kept).
        throw PalisadeError(
            .conflict, code: .configurationOutdated,
            message: "the report is about configuration \(body.configurationHash), not the device's current one"
                + (current.map { " (\($0)); check in to receive it" } ?? " (it has none)"),
            details: .object(["field": "configurationHash", "reported": .string(body.configurationHash), "current": current.map(JSONValue.string) ?? .null]))
    }

    static func validateDrift(_ events: [DriftEvent]) throws {
        guard events.count <= 1_000 else {
            throw PalisadeError.invalid("a report holds at most 1000 drift events, got \(events.count)", field: "drift")
        }
        for (index, event) in events.enumerated() {
            let field = "drift[\(index)]"
            guard (1...100).contains(event.id.count) else { throw PalisadeError.invalid("\(field).id must be 1 to 100 characters", field: "\(field).id") }
            guard (1...300).contains(event.settingId.count) else { throw PalisadeError.invalid("\(field).settingId must be 1 to 300 characters", field: "\(field).settingId") }
            guard DefenderStatus.date(event.detectedAt) != nil else {
                throw PalisadeError.invalid("\(field).detectedAt must be an ISO 8601 time such as 2026-11-27T02:18:53Z", field: "\(field).detectedAt")
            }
            if (event.detail?.count ?? 0) > maximumResultDetail {
                throw PalisadeError.invalid("\(field).detail holds at most \(maximumResultDetail) characters", field: "\(field).detail")
            }
            for (name, value) in [("found", event.found), ("restored", event.restored)] {
                if let value, CanonicalJSON.bytes(value).count > 4_096 {
                    throw PalisadeError.invalid("\(field).\(name) holds at most 4096 bytes of JSON", field: "\(field).\(name)")
                }
            }
        }
    }
}

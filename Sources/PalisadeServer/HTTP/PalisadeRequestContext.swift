import Hummingbird
import NIOCore
import PalisadeCore

/// Per-request state: the core storage, and who is calling once a middleware has checked it.
public struct PalisadeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AdminTokenMiddleware` on admin routes.
    public var tenant: AuthenticatedTenant?
    /// Set by `DeviceAssertionMiddleware` on device routes after enrollment.
    public var device: DeviceCredentials?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// Request bodies larger than this answer 413.
    public var maxUploadSize: Int { 1024 * 1024 }

    /// The authenticated tenant id; only reachable behind `AdminTokenMiddleware`.
    func requireTenant() throws -> String {
        guard let tenant else {
            throw PalisadeError(.unauthorized, code: .unauthorized, message: "missing or unknown API token")
        }
        return tenant.tenantId
    }

    /// The device whose assertion `DeviceAssertionMiddleware` verified.
    func requireDevice() throws -> DeviceCredentials {
        guard let device else {
            throw PalisadeError(.unauthorized, code: .assertionInvalid, message: "this route needs a device assertion")
        }
        return device
    }
}

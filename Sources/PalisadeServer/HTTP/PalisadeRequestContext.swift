import Hummingbird
import NIOCore
import PalisadeCore

/// Per-request state: the core storage, where the request came from, and who is calling once
/// a middleware has checked it.
public struct PalisadeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's address (the proxy's, behind a proxy), for the audit log and rate limits.
    public let sourceAddress: String?
    /// Set by `AdminAuthenticationMiddleware` on admin routes: an API token or a signed-in person.
    public var principal: Principal? {
        didSet { observed.setCaller(principal.map { let actor = $0.actor(from: nil); return "\(actor.type.rawValue):\(actor.id)" }) }
    }
    /// Set by `DeviceAssertionMiddleware` on device routes after enrollment.
    public var device: DeviceCredentials? {
        didSet { observed.setCaller(device.map { "device:\($0.deviceId)" }) }
    }
    /// The request's id (`X-Request-Id`), set by `RequestObservabilityMiddleware`.
    public var requestId: String = ""
    /// Shared with the outer middleware, which sees only its own copy of the context: who the
    /// caller turned out to be, for the access log.
    let observed = ObservedRequest()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.sourceAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Request bodies larger than this answer 413.
    static let maxUploadSize = 1024 * 1024
    public var maxUploadSize: Int { Self.maxUploadSize }
}

import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import PalisadeCore
import ServiceLifecycle

/// How `palisade serve` is configured.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: String?
    public var databaseURL: String?
    /// The certificate and key HTTPS is served with; nil serves plain HTTP (`--insecure-http`,
    /// behind a TLS-terminating proxy).
    public var tls: ServerTLS?
    /// The URL onboarding packages send agents to (`--public-url`); nil: this listener's
    /// scheme, host and port.
    public var publicURL: String?
    /// The CA onboarding packages pin; nil when agents should use their system's trust roots.
    public var agentCA: PinnedCA?
    /// A connection with no request in progress (or a request that stops arriving) is closed
    /// after this long, so idle or trickling clients cannot hold connections; a long-poll that
    /// has been read and waits for its answer is not idle.
    public var idleTimeout: TimeAmount = .seconds(60)
    /// `--metrics-public`: `/metrics` answers without a token (for a scraper on a trusted
    /// network); otherwise it needs an API token or session with `readReports`.
    public var metricsPublic = false
    /// Enrollment attempts per source address and device requests per device (`--enrollment-rate-limit`,
    /// `--device-rate-limit`).
    public var deviceRateLimits: DeviceRateLimits = .init()
    /// The check-in schedule sent to agents with every check-in answer (nil: none, agents keep
    /// their own).
    public var checkInSchedule: DeviceProtocol.CheckInSchedule?

    public init(host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String?, databaseURL: String?,
                tls: ServerTLS? = nil, publicURL: String? = nil, agentCA: PinnedCA? = nil) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
        self.tls = tls
        self.publicURL = publicURL
        self.agentCA = agentCA
    }

    /// The listener's own URL (a wildcard address becomes this host's name).
    func listenerURL(port: Int) -> String {
        let scheme = tls == nil ? "http" : "https"
        var host = self.host
        if host == "0.0.0.0" || host == "::" { host = ProcessInfo.processInfo.hostName }
        if host.contains(":") { host = "[\(host)]" }
        return "\(scheme)://\(host):\(port)"
    }
}

/// How many device-protocol requests the server takes before answering 429, per minute and per
/// replica: enrollment attempts per source address, check-ins and reports per device.
/// Raising them (a fleet enrolling from behind one NAT address, a load test) lets one address
/// guess enrollment tokens, or one device make requests, that much faster (docs/SECURITY.md).
public struct DeviceRateLimits: Sendable, Equatable {
    public static let defaultEnrollmentsPerMinute = 120
    public static let defaultDeviceRequestsPerMinute = 120
    public var enrollmentsPerMinute: Int
    public var deviceRequestsPerMinute: Int

    public init(enrollmentsPerMinute: Int = Self.defaultEnrollmentsPerMinute, deviceRequestsPerMinute: Int = Self.defaultDeviceRequestsPerMinute) {
        self.enrollmentsPerMinute = enrollmentsPerMinute
        self.deviceRequestsPerMinute = deviceRequestsPerMinute
    }
}

/// The routes: health, the OpenAPI document and sign-in without authentication; the admin API
/// behind an API token or a session (one controller per resource, every route declaring the
/// permission it needs in `access`); the device protocol behind device assertions; the admin
/// center's pages at `/`, behind a session.
public func buildRouter(store: PalisadeStore, onboarding: OnboardingSettings = .init(publicURL: PublicURL("http://127.0.0.1:8080"), ca: nil),
                        strictTransportSecurity: Bool = false, metricsPublic: Bool = false, access: RouteAccess = RouteAccess(),
                        deviceRateLimits: DeviceRateLimits = .init(), checkInSchedule: DeviceProtocol.CheckInSchedule? = nil) -> Router<PalisadeRequestContext> {
    let router = Router(context: PalisadeRequestContext.self)
    let routes = RouteTable()
    router.middlewares.add(RequestObservabilityMiddleware(metrics: store.metrics))
    if strictTransportSecurity {
        router.middlewares.add(StrictTransportSecurityMiddleware())
    }
    router.middlewares.add(ErrorMiddleware(routes: routes, metrics: store.metrics))
    let prefix = "/api/v1"
    let api = router.group("api/v1")
    // Liveness: the process answers. Readiness: it can also reach its database.
    access.record(method: "GET", path: prefix + "/health", .publicRoute)
    api.get("health") { _, _ in try JSONBody.response(["status": "ok"]) }
    let health = HealthController(store: store)
    access.record(method: "GET", path: prefix + "/ready", .publicRoute)
    api.get("ready", use: health.ready)
    if metricsPublic {
        access.record(method: "GET", path: "/metrics", .publicRoute)
        router.get("metrics", use: health.metrics)
    } else {
        AdminRoutes(group: router.group().add(middleware: AdminAuthenticationMiddleware(store: store)).group(context: AdminRequestContext.self), prefix: "", access: access)
            .get("metrics", .readReports) { request, context in try await health.metrics(request, context: context) }
    }
    access.record(method: "GET", path: prefix + "/openapi.json", .publicRoute)
    api.get("openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
    }
    // Ten failed sign-ins per source address in five minutes; accounts lock on their own.
    let signInLimiter = RateLimiter(limit: 10, window: .seconds(300), clock: store.clock)
    let domain = DomainServices(store: store)
    let sessions = SessionController(access: domain.access, limiter: signInLimiter)
    sessions.addPublicRoutes(to: api, access: access, prefix: prefix)

    let admin = AdminRoutes(group: api.group().add(middleware: AdminAuthenticationMiddleware(store: store)).group(context: AdminRequestContext.self),
                            prefix: prefix, access: access)
    sessions.addRoutes(to: admin)
    EnrollmentTokenController(enrollmentTokens: domain.enrollmentTokens).addRoutes(to: admin)
    DeviceController(devices: domain.devices).addRoutes(to: admin)
    GroupController(groups: domain.groups, devices: domain.devices).addRoutes(to: admin)
    PolicyController(policies: domain.policies).addRoutes(to: admin)
    ReportController(reports: domain.reports).addRoutes(to: admin)
    TenantSettingsController(settings: domain.tenantSettings).addRoutes(to: admin)
    CatalogController(catalog: store.catalog).addRoutes(to: admin)
    APITokenController(access: domain.access).addRoutes(to: admin)
    UserController(access: domain.access).addRoutes(to: admin)
    AuditController(reports: domain.reports).addRoutes(to: admin)
    DriftReportController(reports: domain.reports).addRoutes(to: admin)
    EnrollmentReportController(reports: domain.reports).addRoutes(to: admin)
    OnboardingController(settings: onboarding, enrollmentTokens: domain.enrollmentTokens).addRoutes(to: admin)

    DeviceProtocolController(store: store, rateLimits: deviceRateLimits, schedule: checkInSchedule).addRoutes(to: router.group("device/v1"), access: access, prefix: "/device/v1")
    AdminCenter(store: store, domain: domain, onboarding: onboarding, signInLimiter: signInLimiter, routes: routes).addRoutes(to: router, access: access)
    routes.set(router.routes.map { (path: "\($0.path)", method: $0.method.rawValue) })
    return router
}

public func buildApplication(
    store: PalisadeStore,
    configuration: ServerConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let publicURL = PublicURL(configuration.publicURL ?? configuration.listenerURL(port: configuration.port))
    let router = buildRouter(store: store, onboarding: .init(publicURL: publicURL, ca: configuration.agentCA),
                             strictTransportSecurity: configuration.tls != nil, metricsPublic: configuration.metricsPublic,
                             deviceRateLimits: configuration.deviceRateLimits, checkInSchedule: configuration.checkInSchedule)
    let server: HTTPServerBuilder = if let tls = configuration.tls {
        try .tls(.http1(configuration: .init(idleTimeout: configuration.idleTimeout)), tlsConfiguration: try tls.makeTLSConfiguration())
    } else {
        .http1(configuration: .init(idleTimeout: configuration.idleTimeout))
    }
    return Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "palisade"),
        services: services(for: store, logger: logger),
        onServerRunning: { channel in
            // A port 0 listener learns its port only now.
            if configuration.publicURL == nil, let port = channel.localAddress?.port {
                publicURL.set(configuration.listenerURL(port: port))
            }
            await onServerRunning(channel)
        },
        logger: logger)
}

/// `Strict-Transport-Security` on every HTTPS answer: browsers and tools that honour it never
/// fall back to plain HTTP for this host for a year.
struct StrictTransportSecurityMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.strictTransportSecurity] = "max-age=31536000"
        return response
    }
}

/// Background services beside the HTTP server: the long-poll notifier, the directory warm-up,
/// and on PostgreSQL the listener that hears other replicas' changes.
func services(for store: PalisadeStore, logger: Logger) -> [any Service] {
    var services: [any Service] = [store.notifier, DirectoryWarmUp(store: store), LastSeenWriting(store: store), HotPathCommitting(store: store)]
    if let postgres = store.backend as? PostgresBackend {
        services.append(PostgresChangeListener(backend: postgres, notifier: store.notifier, logger: logger))
    }
    return services
}

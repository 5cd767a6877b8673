import Foundation
import Hummingbird
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

    public init(host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String?, databaseURL: String?) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.databaseURL = databaseURL
    }
}

/// The routes: health, the OpenAPI document and sign-in without authentication; the admin API
/// behind an API token or a session (one controller per resource, every route declaring the
/// permission it needs in `access`); the device protocol behind device assertions.
public func buildRouter(store: PalisadeStore, access: RouteAccess = RouteAccess()) -> Router<PalisadeRequestContext> {
    let router = Router(context: PalisadeRequestContext.self)
    let routes = RouteTable()
    router.middlewares.add(ErrorMiddleware(routes: routes))
    let prefix = "/api/v1"
    let api = router.group("api/v1")
    access.record(method: "GET", path: prefix + "/health", .publicRoute)
    api.get("health") { _, _ in try JSONBody.response(["status": "ok"]) }
    access.record(method: "GET", path: prefix + "/openapi.json", .publicRoute)
    api.get("openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
    }
    // Ten failed sign-ins per source address in five minutes; accounts lock on their own.
    let signInLimiter = RateLimiter(limit: 10, window: .seconds(300), clock: store.clock)
    let sessions = SessionController(store: store, limiter: signInLimiter)
    sessions.addPublicRoutes(to: api, access: access, prefix: prefix)

    let admin = AdminRoutes(group: api.group().add(middleware: AdminAuthenticationMiddleware(store: store)), prefix: prefix, access: access)
    sessions.addRoutes(to: admin)
    EnrollmentTokenController(store: store).addRoutes(to: admin)
    DeviceController(store: store).addRoutes(to: admin)
    GroupController(store: store).addRoutes(to: admin)
    PolicyController(store: store).addRoutes(to: admin)
    TenantSettingsController(store: store).addRoutes(to: admin)
    CatalogController(catalog: store.catalog).addRoutes(to: admin)
    APITokenController(store: store).addRoutes(to: admin)
    UserController(store: store).addRoutes(to: admin)
    AuditController(store: store).addRoutes(to: admin)

    DeviceProtocolController(store: store).addRoutes(to: router.group("device/v1"), access: access, prefix: "/device/v1")
    routes.set(router.routes.map { (path: "\($0.path)", method: $0.method.rawValue) })
    return router
}

public func buildApplication(
    store: PalisadeStore,
    configuration: ServerConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(store: store),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "palisade"),
        services: services(for: store, logger: logger),
        onServerRunning: onServerRunning,
        logger: logger)
}

/// Background services beside the HTTP server: the long-poll notifier, the directory warm-up,
/// and on PostgreSQL the listener that hears other replicas' changes.
func services(for store: PalisadeStore, logger: Logger) -> [any Service] {
    var services: [any Service] = [store.notifier, DirectoryWarmUp(store: store)]
    if let postgres = store.backend as? PostgresBackend {
        services.append(PostgresChangeListener(backend: postgres, notifier: store.notifier, logger: logger))
    }
    return services
}

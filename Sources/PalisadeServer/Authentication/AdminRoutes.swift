import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import PalisadeCore

/// What a route asks of its caller.
public enum AccessRequirement: Sendable, Hashable {
    /// Anyone (health, the API document, sign-in) or a device with its own proof (device protocol).
    case publicRoute
    /// Any signed-in person or token, whatever the role (the caller's own session).
    case authenticated
    case permission(Permission)
}

/// What each route asks of its caller, as registered: `docs/PERMISSIONS.md` and the
/// role-by-route tests read it, and a route registered without it fails those tests.
public final class RouteAccess: Sendable {
    private let table = NIOLockedValueBox<[String: AccessRequirement]>([:])

    public init() {}

    /// `"GET /api/v1/devices/{id}"` -> requirement.
    public var all: [String: AccessRequirement] { table.withLockedValue { $0 } }

    public func requirement(method: String, path: String) -> AccessRequirement? {
        table.withLockedValue { $0[Self.key(method: method, path: path)] }
    }

    func record(method: String, path: String, _ requirement: AccessRequirement) {
        table.withLockedValue { $0[Self.key(method: method, path: path)] = requirement }
    }

    /// Captures written `{id}` whatever their spelling (`:id` when registered).
    static func key(method: String, path: String) -> String {
        let segments = path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
        return "\(method) /" + segments.joined(separator: "/")
    }
}

/// Registers admin routes under a prefix, each with the permission it needs: the check runs
/// before the handler (so a refusal never depends on whether the object exists), for API
/// tokens and signed-in people alike.
struct AdminRoutes {
    typealias Context = AdminRequestContext
    let group: RouterGroup<Context>
    /// The group's path, e.g. `/api/v1`, for the permission table.
    let prefix: String
    let access: RouteAccess

    func on(_ method: HTTPRequest.Method, _ path: String, _ permission: Permission,
            use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        access.record(method: method.rawValue, path: prefix + "/" + path, .permission(permission))
        group.on(RouterPath(path), method: method) { request, context in
            try context.require(permission)
            return try await handler(request, context)
        }
    }

    /// A route any authenticated caller may use on itself (its own session).
    func authenticated(_ method: HTTPRequest.Method, _ path: String, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        access.record(method: method.rawValue, path: prefix + "/" + path, .authenticated)
        group.on(RouterPath(path), method: method, use: handler)
    }

    func get(_ path: String, _ permission: Permission, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(.get, path, permission, use: handler)
    }

    func post(_ path: String, _ permission: Permission, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(.post, path, permission, use: handler)
    }

    func put(_ path: String, _ permission: Permission, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(.put, path, permission, use: handler)
    }

    func patch(_ path: String, _ permission: Permission, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(.patch, path, permission, use: handler)
    }

    func delete(_ path: String, _ permission: Permission, use handler: @escaping @Sendable (Request, Context) async throws -> Response) {
        on(.delete, path, permission, use: handler)
    }
}

extension RouteAccess {
    /// `docs/PERMISSIONS.md`: every route with what it asks, and which roles have it. A test
    /// keeps the committed file equal to this.
    public func markdown() -> String {
        let roles = Role.allCases
        var lines = [
            "# Permissions",
            "",
            "Generated from the route table by `PermissionTests` (run `PALISADE_UPDATE_DOCS=1 swift test --filter PermissionTests` after changing a route).",
            "Every admin route declares the one permission it needs beside its path (`AdminRoutes`); the check runs before the",
            "handler, for API tokens and signed-in people alike, and a refusal is `403 forbidden` naming the permission.",
            "A route registered without a declaration fails `PermissionTests`.",
            "",
            "## Roles",
            "",
            "| permission | " + roles.map(\.rawValue).joined(separator: " | ") + " |",
            "|---|" + roles.map { _ in "---|" }.joined(),
        ]
        for permission in Permission.allCases {
            lines.append("| `\(permission.rawValue)` | " + roles.map { $0.allows(permission) ? "yes" : "" }.joined(separator: " | ") + " |")
        }
        lines += ["", "## Routes", "", "| route | needs | " + roles.map(\.rawValue).joined(separator: " | ") + " |", "|---|---|" + roles.map { _ in "---|" }.joined()]
        for (route, requirement) in all.sorted(by: { $0.key.split(separator: " ").reversed().joined(separator: " ") < $1.key.split(separator: " ").reversed().joined(separator: " ") }) {
            let needs: String
            let allowed: [Bool]
            switch requirement {
            case .publicRoute:
                needs = route.contains("/device/") ? "a device's own proof" : "nothing (public)"
                allowed = roles.map { _ in true }
            case .authenticated:
                needs = "any signed-in caller"
                allowed = roles.map { _ in true }
            case .permission(let permission):
                needs = "`\(permission.rawValue)`"
                allowed = roles.map { $0.allows(permission) }
            }
            lines.append("| `\(route)` | \(needs) | " + allowed.map { $0 ? "yes" : "" }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

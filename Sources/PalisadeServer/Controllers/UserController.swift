import Foundation
import Hummingbird
import PalisadeCore

/// People who sign in to the admin center: `/api/v1/users`.
struct UserController {
    typealias Context = AdminRequestContext
    let access: AccessService

    func addRoutes(to routes: AdminRoutes) {
        routes.post("users", .manageUsers, use: create)
        routes.get("users", .readUsers, use: list)
        routes.get("users/:id", .readUsers, use: get)
        routes.patch("users/:id", .manageUsers, use: update)
        routes.delete("users/:id", .manageUsers, use: delete)
    }

    struct CreateBody: Decodable {
        var email: String
        var displayName: String
        var role: StrictEnum<Role>
        var password: String
    }

    struct UpdateBody: Decodable {
        var displayName: String?
        var role: StrictEnum<Role>?
        var password: String?
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(CreateBody.self, from: request, context: context)
        let user = try await access.createUser(tenant: context.tenant, by: context.actor, email: body.email,
                                              displayName: body.displayName, role: body.role.value, password: body.password)
        return try JSONBody.response(user, status: .created)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await access.users(tenant: context.tenant, limit: page.limit, after: page.cursor).response(named: "users")
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await access.user(tenant: context.tenant, id: try context.parameters.require("id")))
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        _ = try await access.user(tenant: tenant, id: id)
        let body = try await JSONBody.decode(UpdateBody.self, from: request, context: context)
        return try JSONBody.response(try await access.updateUser(tenant: tenant, by: context.actor, id: id, displayName: body.displayName,
                                                                role: body.role?.value, password: body.password))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await access.deleteUser(tenant: context.tenant, by: context.actor, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }
}

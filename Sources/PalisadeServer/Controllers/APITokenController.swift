import Foundation
import Hummingbird
import PalisadeCore

/// API tokens: `/api/v1/api-tokens`. The secret is shown once, at creation; revoked and
/// expired tokens are refused with 401.
struct APITokenController {
    typealias Context = AdminRequestContext
    let access: AccessService

    func addRoutes(to routes: AdminRoutes) {
        routes.post("api-tokens", .manageAPITokens, use: create)
        routes.get("api-tokens", .readAPITokens, use: list)
        routes.delete("api-tokens/:id", .manageAPITokens, use: revoke)
    }

    struct CreateBody: Decodable {
        var name: String
        var role: StrictEnum<Role>
        var expiresInDays: Int?
    }

    struct CreatedBody: Encodable {
        var token: String
        var apiToken: APIToken
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(CreateBody.self, from: request, context: context)
        let created = try await access.createAPIToken(tenant: context.tenant, by: context.actor, name: body.name,
                                                     role: body.role.value, expiresInDays: body.expiresInDays)
        return try JSONBody.response(CreatedBody(token: created.token, apiToken: created.record), status: .created)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await access.apiTokens(tenant: context.tenant, limit: page.limit, after: page.cursor).response(named: "apiTokens")
    }

    @Sendable func revoke(_ request: Request, context: Context) async throws -> Response {
        try await access.revokeAPIToken(tenant: context.tenant, by: context.actor, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }
}

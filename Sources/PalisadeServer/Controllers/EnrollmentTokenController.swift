import Foundation
import Hummingbird
import PalisadeCore

/// Enrollment tokens: `/api/v1/enrollment-tokens`. The secret is shown once, at creation.
struct EnrollmentTokenController {
    typealias Context = AdminRequestContext
    let enrollmentTokens: EnrollmentTokenService

    func addRoutes(to routes: AdminRoutes) {
        routes.post("enrollment-tokens", .manageEnrollmentTokens, use: create)
        routes.get("enrollment-tokens", .readEnrollmentTokens, use: list)
        routes.delete("enrollment-tokens/:id", .manageEnrollmentTokens, use: revoke)
    }

    struct CreateEnrollmentTokenBody: Decodable {
        var name: String
        var expiresInHours: Int
        var maxUses: Int?
        /// For a re-imaging wave: devices may enroll again with new keys without approval.
        var allowReenrollment: Bool?
    }

    struct CreatedEnrollmentTokenBody: Encodable {
        var id: String
        var name: String
        var token: String
        var expiresAt: Date
        var maxUses: Int?
        var allowReenrollment: Bool
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(CreateEnrollmentTokenBody.self, from: request, context: context)
        let created = try await enrollmentTokens.create(tenant: context.tenant, by: context.actor, name: body.name, expiresInHours: body.expiresInHours,
                                                             maxUses: body.maxUses, allowReenrollment: body.allowReenrollment ?? false)
        return try JSONBody.response(CreatedEnrollmentTokenBody(id: created.record.id, name: created.record.name, token: created.token, expiresAt: created.record.expiresAt, maxUses: created.record.maxUses,
                                                             allowReenrollment: created.record.allowReenrollment), status: .created)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await enrollmentTokens.tokens(tenant: context.tenant, limit: page.limit, after: page.cursor).response(named: "enrollmentTokens")
    }

    @Sendable func revoke(_ request: Request, context: Context) async throws -> Response {
        try await enrollmentTokens.revoke(tenant: context.tenant, by: context.actor, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }
}

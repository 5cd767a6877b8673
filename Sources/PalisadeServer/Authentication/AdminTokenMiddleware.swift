import Foundation
import Hummingbird
import Logging
import PalisadeCore

/// Admin API authentication: `Authorization: Bearer <token>`; puts the token's tenant in the
/// request context.
struct AdminTokenMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw PalisadeError(.unauthorized, code: .unauthorized, message: "send the API token as Authorization: Bearer <token>")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let tenant = try await store.authenticate(apiToken: token) else {
            throw PalisadeError(.unauthorized, code: .unauthorized, message: "the API token is not valid")
        }
        var context = context
        context.tenant = tenant
        context.logger[metadataKey: "tenant"] = .string(tenant.tenantId)
        return try await next(request, context)
    }
}

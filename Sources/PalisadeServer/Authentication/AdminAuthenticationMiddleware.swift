import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PalisadeCore

/// Admin API authentication: an API token (`Authorization: Bearer <token>`) or a signed-in
/// person's session cookie. A request authenticated by the cookie that changes anything must
/// also carry the session's CSRF token in `X-CSRF-Token`: a page of another site can make the
/// browser send the cookie, but cannot read the token.
struct AdminAuthenticationMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    static let sessionCookie = "palisade_session"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    let store: PalisadeStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let principal = try await authenticate(request)
        context.principal = principal
        context.logger[metadataKey: "tenant"] = .string(principal.tenantId)
        context.logger[metadataKey: "principal"] = .string(principal.name)
        return try await next(request, context)
    }

    func authenticate(_ request: Request) async throws -> Principal {
        if let header = request.headers[.authorization] {
            guard header.lowercased().hasPrefix("bearer ") else {
                throw PalisadeError(.unauthorized, code: .unauthorized, message: "send the API token as Authorization: Bearer <token>")
            }
            let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
            switch try await store.authenticate(apiToken: token) {
            case .success(let principal): return principal
            case .failure(.expired): throw PalisadeError(.unauthorized, code: .tokenExpired, message: "the API token has expired")
            case .failure(.revoked): throw PalisadeError(.unauthorized, code: .tokenRevoked, message: "the API token was revoked")
            case .failure(.unknown): throw PalisadeError(.unauthorized, code: .unauthorized, message: "the API token is not valid")
            }
        }
        guard let cookie = request.cookies[Self.sessionCookie]?.value else {
            throw PalisadeError(.unauthorized, code: .unauthorized, message: "sign in, or send an API token as Authorization: Bearer <token>")
        }
        let principal: Principal
        switch try await store.authenticate(sessionCookie: cookie) {
        case .success(let signedIn): principal = signedIn
        case .failure(.expired), .failure(.revoked): throw PalisadeError(.unauthorized, code: .sessionExpired, message: "the session has ended; sign in again")
        case .failure(.unknown): throw PalisadeError(.unauthorized, code: .unauthorized, message: "the session is not valid; sign in again")
        }
        if ![.get, .head, .options].contains(request.method) {
            guard principal.accepts(csrfToken: request.headers[Self.csrfHeader]) else {
                throw PalisadeError(.forbidden, code: .csrfTokenInvalid,
                                    message: "a change made with a session cookie needs the session's CSRF token in the X-CSRF-Token header")
            }
        }
        return principal
    }
}

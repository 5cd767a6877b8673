import Foundation
import Hummingbird
import PalisadeCore

/// Signing in and out of the admin center: `POST /api/v1/session` (public) sets an
/// `HttpOnly; Secure; SameSite=Strict` session cookie and answers the CSRF token that every
/// state-changing request made with the cookie must carry; `GET` says who is signed in;
/// `DELETE` signs out. Failed sign-ins are limited per source address as well as per account.
struct SessionController {
    typealias Context = PalisadeRequestContext
    let access: AccessService
    let limiter: RateLimiter

    func addPublicRoutes(to group: RouterGroup<Context>, access: RouteAccess, prefix: String) {
        access.record(method: "POST", path: prefix + "/session", .publicRoute)
        group.post("session", use: signIn)
    }

    func addRoutes(to routes: AdminRoutes) {
        routes.authenticated(.get, "session", use: current)
        routes.authenticated(.delete, "session", use: signOut)
    }

    struct SignInBody: Decodable {
        var email: String
        var password: String
    }

    struct SessionBody: Encodable {
        var user: User?
        var principal: String
        var role: Role
        var csrfToken: String?
        var expiresAt: Date?
    }

    @Sendable func signIn(_ request: Request, context: Context) async throws -> Response {
        let source = context.sourceAddress ?? "unknown"
        try limiter.check("sign-in:\(source)", what: "sign-in attempts from \(source)")
        let body = try await JSONBody.decode(SignInBody.self, from: request, context: context)
        let signedIn: SignedIn
        do {
            signedIn = try await access.signIn(email: body.email, password: body.password, sourceAddress: context.sourceAddress)
        } catch let error as DomainError where error.code == .invalidCredentials {
            limiter.recordFailure("sign-in:\(source)")
            throw error
        }
        var response = try JSONBody.response(SessionBody(user: signedIn.user, principal: signedIn.user.email, role: signedIn.user.role,
                                                         csrfToken: signedIn.csrfToken, expiresAt: signedIn.expiresAt))
        response.setCookie(Cookie(name: AdminAuthenticationMiddleware.sessionCookie, value: signedIn.cookieValue, path: "/",
                                  secure: true, httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func current(_ request: Request, context: AdminRequestContext) async throws -> Response {
        let principal = context.principal
        let user = principal.kind == .user ? try await access.user(tenant: principal.tenantId, id: principal.id) : nil
        return try JSONBody.response(SessionBody(user: user, principal: principal.name, role: principal.role, csrfToken: principal.csrfToken, expiresAt: nil))
    }

    @Sendable func signOut(_ request: Request, context: AdminRequestContext) async throws -> Response {
        try await access.signOut(context.principal, sourceAddress: context.sourceAddress)
        var response = Response(status: .noContent)
        response.setCookie(Cookie(name: AdminAuthenticationMiddleware.sessionCookie, value: "", maxAge: 0, path: "/",
                                  secure: true, httpOnly: true, sameSite: .strict))
        return response
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import NIOCore
import PalisadeCore

/// The admin center: server-rendered pages over the same store calls and the same permissions
/// as the admin API. Every form works without JavaScript; `admin.js` only adds the live rule
/// preview, filtering as you type and confirmations. Pages are reached with a session cookie
/// only (never an API token), every form carries the session's CSRF token, and every answer
/// carries a Content-Security-Policy that allows no inline script and nothing from elsewhere.
struct AdminCenter: Sendable {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore
    let policies: PolicyService
    let groups: GroupService
    let settings: TenantSettingsService
    let enrollmentTokens: EnrollmentTokenService
    let devices: DeviceService
    let access: AccessService
    let reports: ReportService
    let onboarding: OnboardingSettings
    let templates: PageTemplates
    let signInLimiter: RateLimiter
    let routes: RouteTable

    init(store: PalisadeStore, domain: DomainServices, onboarding: OnboardingSettings, signInLimiter: RateLimiter, routes: RouteTable) {
        self.store = store
        self.policies = domain.policies
        self.groups = domain.groups
        self.settings = domain.tenantSettings
        self.enrollmentTokens = domain.enrollmentTokens
        self.devices = domain.devices
        self.access = domain.access
        self.reports = domain.reports
        self.routes = routes
        self.onboarding = onboarding
        self.templates = PageTemplates.shared
        self.signInLimiter = signInLimiter
    }

    func addRoutes(to router: Router<Context>, access: RouteAccess) {
        let open = router.group().add(middleware: PageSecurityHeadersMiddleware())
        access.record(method: "GET", path: "/assets/{file}", .publicRoute)
        open.get("assets/:file") { _, context in try Self.asset(context.parameters.require("file")) }
        access.record(method: "GET", path: "/sign-in", .publicRoute)
        open.get("sign-in") { request, context in try await signInPage(request, context: context) }
        access.record(method: "POST", path: "/sign-in", .publicRoute)
        open.post("sign-in") { request, context in try await signIn(request, context: context) }

        let pages = PageRoutes(
            group: router.group()
                .add(middleware: PageSecurityHeadersMiddleware())
                .add(middleware: PageErrorMiddleware(templates: templates, routes: routes))
                .add(middleware: PageSessionMiddleware(store: store))
                .group(context: AdminRequestContext.self),
            access: access, templates: templates)
        pages.post("sign-out", nil) { page, _ in try await signOut(page) }
        addOverviewPages(to: pages)
        addDevicePages(to: pages)
        addGroupPages(to: pages)
        addPolicyPages(to: pages)
        addRevisionAndSyncPages(to: pages)
        addReportPages(to: pages)
        addOnboardingPages(to: pages)
        addAdministrationPages(to: pages)
    }

    // MARK: Signing in and out

    func signInPage(_ request: Request, context: Context) async throws -> Response {
        let next = Self.safeRedirect(request.uri.queryParameters.get("next"))
        return templates.standalone(SignInPage(email: "", next: next), title: "Sign in")
    }

    func signIn(_ request: Request, context: Context) async throws -> Response {
        let form = try await FormData.read(request, context: context)
        var fields = SignInForm()
        let source = context.sourceAddress ?? "unknown"
        do {
            fields = try form.decode(SignInForm.self)
            try signInLimiter.check("sign-in:\(source)", what: "sign-in attempts from \(source)")
            let signedIn = try await access.signIn(email: fields.email, password: fields.password, sourceAddress: context.sourceAddress)
            var response = Response(status: .seeOther, headers: [.location: Self.safeRedirect(fields.next)])
            response.setCookie(Cookie(name: AdminAuthenticationMiddleware.sessionCookie, value: signedIn.cookieValue, path: "/",
                                      secure: true, httpOnly: true, sameSite: .strict))
            return response
        } catch {
            guard let error = PalisadeError.refusal(error) else { throw error }
            if error.code == .invalidCredentials { signInLimiter.recordFailure("sign-in:\(source)") }
            return templates.standalone(SignInPage(error: error.message, email: fields.email, next: Self.safeRedirect(fields.next)),
                                        title: "Sign in", status: error.status)
        }
    }

    func signOut(_ page: SignedInPage) async throws -> Response {
        try await access.signOut(page.principal, sourceAddress: page.sourceAddress)
        var response = Response(status: .seeOther, headers: [.location: "/sign-in"])
        response.setCookie(Cookie(name: AdminAuthenticationMiddleware.sessionCookie, value: "", maxAge: 0, path: "/",
                                  secure: true, httpOnly: true, sameSite: .strict))
        return response
    }

    /// Only a path on this server: `//host` and absolute URLs would send the admin elsewhere.
    static func safeRedirect(_ target: String?) -> String {
        guard let target, target.hasPrefix("/"), !target.hasPrefix("//"), !target.contains("\\"),
              !target.contains(where: { $0.isNewline }) else { return "/" }
        return target
    }

    // MARK: Assets

    static func asset(_ name: String) throws -> Response {
        let (bytes, type): ([UInt8], String) = switch name {
        case "admin.css": (PackageResources.admin_css, "text/css; charset=utf-8")
        case "admin.js": (PackageResources.admin_js, "text/javascript; charset=utf-8")
        default: throw PalisadeError(.notFound, code: .notFound, message: "no such asset: \(name)")
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=300"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// One signed-in page request: who asks, from where, and the CSRF token its forms carry.
struct SignedInPage: Sendable {
    let request: Request
    let context: AdminRequestContext
    var principal: Principal { context.principal }

    var tenant: String { principal.tenantId }
    var role: Role { principal.role }
    var sourceAddress: String? { context.sourceAddress }
    var actor: AuditActor { principal.actor(from: context.sourceAddress) }
    var csrfToken: String { principal.csrfToken ?? "" }
    var path: String { request.uri.path }
    func query(_ name: String) -> String? {
        request.uri.queryParameters.get(name).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
    }
    func may(_ permission: Permission) -> Bool { role.allows(permission) }
    func parameter(_ name: String) throws -> String { try context.parameters.require(name) }
}

/// Registers pages, each with the permission it needs (recorded in the same table as the API,
/// so `docs/PERMISSIONS.md` lists pages too). A POST reads the form and checks its CSRF token
/// before the handler runs.
struct PageRoutes {
    typealias Context = AdminRequestContext
    let group: RouterGroup<Context>
    let access: RouteAccess
    let templates: PageTemplates

    func get(_ path: String, _ permission: Permission?, use handler: @escaping @Sendable (SignedInPage) async throws -> Response) {
        access.record(method: "GET", path: "/" + path, permission.map { .permission($0) } ?? .authenticated)
        group.get(RouterPath(path)) { request, context in
            if let permission { try context.require(permission) }
            let page = SignedInPage(request: request, context: context)
            return try await handler(page)
        }
    }

    /// A form with a fixed set of fields, decoded into `Fields` by Hummingbird's
    /// `URLEncodedFormDecoder` once the CSRF token and the permission are checked. A form the
    /// decoder cannot read (a name sent twice, a broken escape) is refused with 400.
    func post<Fields: Decodable & Sendable>(_ path: String, _ permission: Permission?, form: Fields.Type,
                                            use handler: @escaping @Sendable (SignedInPage, Fields) async throws -> Response) {
        post(path, permission) { page, form in try await handler(page, try form.decode(Fields.self)) }
    }

    /// A form read as name and value pairs (`FormData`): forms whose names are not fixed (the
    /// policy editor) or repeat (assignments), and forms that send nothing but the CSRF token.
    func post(_ path: String, _ permission: Permission?, use handler: @escaping @Sendable (SignedInPage, FormData) async throws -> Response) {
        access.record(method: "POST", path: "/" + path, permission.map { .permission($0) } ?? .authenticated)
        group.post(RouterPath(path)) { request, context in
            let form = try await FormData.read(request, context: context)
            guard context.principal.accepts(csrfToken: form["csrf"]) else {
                throw PalisadeError(.forbidden, code: .csrfTokenInvalid, message: "the form was not sent from this admin center (its CSRF token is missing or stale); reload the page and try again")
            }
            if let permission { try context.require(permission) }
            let page = SignedInPage(request: request, context: context)
            return try await handler(page, form)
        }
    }
}

/// Who is signed in, from the session cookie alone; anyone else is sent to the sign-in page
/// (and back here afterwards).
struct PageSessionMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let cookie = request.cookies[AdminAuthenticationMiddleware.sessionCookie]?.value,
              case .success(let principal) = try await store.authenticate(sessionCookie: cookie) else {
            let back = request.method == .get ? request.uri.description : "/"
            let target = "/sign-in?next=" + (back.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "/-_."))) ?? "/")
            return Response(status: .seeOther, headers: [.location: target])
        }
        var context = context
        context.principal = principal
        context.logger[metadataKey: "tenant"] = .string(principal.tenantId)
        context.logger[metadataKey: "principal"] = .string(principal.name)
        return try await next(request, context)
    }
}

/// What every page answer carries: no inline or foreign script, style or frame; no caching of
/// pages that show fleet data; no MIME sniffing.
struct PageSecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

/// Errors on a page become a page that says what went wrong, with the status the API would
/// answer; anything unexpected is logged and shown as a plain internal error.
struct PageErrorMiddleware: RouterMiddleware {
    typealias Context = PalisadeRequestContext
    let templates: PageTemplates
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            // The API's own mapping, so a page and a route answer the same status and code.
            let failure = ErrorMiddleware.palisadeError(for: error, request: request, routes: routes, logger: context.logger)
            let page = ErrorPage(status: failure.status.code, reason: failure.status.reasonPhrase, message: failure.message, code: failure.code.rawValue)
            return templates.page(page, title: "\(failure.status.code) \(failure.status.reasonPhrase)", principal: context.principal, path: request.uri.path,
                                  status: failure.status)
        }
    }
}

/// The sign-in page (`sign-in.mustache`), outside the signed-in layout.
struct SignInPage: PageModel {
    static let template = "sign-in"
    var csrf = ""
    var error: String?
    let email: String
    /// Where to go once signed in: a path on this server (`AdminCenter.safeRedirect`).
    let next: String
}

/// The sign-in form.
struct SignInForm: Decodable, Sendable {
    @FormText var email: String
    @FormText var password: String
    @FormText var next: String
}

/// What went wrong on a page (`error.mustache`), with the status the API would answer.
struct ErrorPage: PageModel {
    static let template = "error"
    var csrf = ""
    let status: Int
    let reason: String
    let message: String
    let code: String
}

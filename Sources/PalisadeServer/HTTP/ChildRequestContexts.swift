import Hummingbird
import Logging
import PalisadeCore

/// An admin request whose caller the authentication middleware (API token or session) has
/// verified: handlers get the principal and tenant as values, never "is anyone signed in?".
/// Made from `PalisadeRequestContext` by the admin route groups (`ChildRequestContext`).
public struct AdminRequestContext: ChildRequestContext {
    public typealias ParentContext = PalisadeRequestContext
    public var coreContext: CoreRequestContextStorage
    public let principal: Principal
    /// The peer's address (the proxy's, behind a proxy), for the audit log and rate limits.
    public let sourceAddress: String?

    public init(context: PalisadeRequestContext) throws {
        // Only reachable behind a middleware that sets the principal; without one this is a
        // routing mistake, refused rather than served unauthenticated.
        guard let principal = context.principal else {
            throw PalisadeError(.unauthorized, code: .unauthorized, message: "sign in, or send an API token as Authorization: Bearer <token>")
        }
        self.coreContext = context.coreContext
        self.principal = principal
        self.sourceAddress = context.sourceAddress
    }

    public var maxUploadSize: Int { PalisadeRequestContext.maxUploadSize }

    /// The caller's tenant id.
    public var tenant: String { principal.tenantId }

    /// Who is acting, for the audit log.
    public var actor: AuditActor { principal.actor(from: sourceAddress) }

    /// Refuses with 403 naming the permission unless the caller's role has it.
    func require(_ permission: Permission) throws {
        guard principal.role.allows(permission) else {
            throw PalisadeError(.forbidden, code: .forbidden,
                                message: "this needs the permission \(permission.rawValue), which the role \(principal.role.rawValue) does not have",
                                details: ["permission": .string(permission.rawValue), "role": .string(principal.role.rawValue)])
        }
    }
}

extension Principal {
    /// The one CSRF check of sessions, for the API's header and the pages' form field alike:
    /// an API token needs none; a session needs its own token, compared in constant time.
    func accepts(csrfToken sent: String?) -> Bool {
        guard kind == .user else { return true }
        guard let sent, let expected = csrfToken else { return false }
        return Digest.constantTimeEqual(sent, expected)
    }
}

/// A device-protocol request whose signed assertion `DeviceAssertionMiddleware` has verified:
/// handlers get the device as a value. Made from `PalisadeRequestContext` by the device route
/// group (`ChildRequestContext`).
public struct DeviceRequestContext: ChildRequestContext {
    public typealias ParentContext = PalisadeRequestContext
    public var coreContext: CoreRequestContextStorage
    public let device: DeviceCredentials

    public init(context: PalisadeRequestContext) throws {
        guard let device = context.device else {
            throw PalisadeError(.unauthorized, code: .assertionInvalid, message: "this route needs a device assertion")
        }
        self.coreContext = context.coreContext
        self.device = device
    }

    public var maxUploadSize: Int { PalisadeRequestContext.maxUploadSize }
}

import Foundation
import Hummingbird
import PalisadeCore

/// Onboarding (enrollment tokens and packages), tenant settings, users and roles, API tokens
/// and the audit log.
extension AdminCenter {
    // MARK: Onboarding

    func addOnboardingPages(to pages: PageRoutes) {
        pages.get("onboarding", .readEnrollmentTokens) { page in try await onboardingPage(page) }
        // The package holds a new token's secret: it is created and downloaded in one answer,
        // never shown in a page, never cached.
        pages.post("onboarding/package", .manageEnrollmentTokens, form: OnboardingPackageForm.self) { page, form in
            do {
                guard let platform = OnboardingController.Platform(rawValue: form.platform) else {
                    throw PalisadeError.invalid("choose a platform", field: "platform")
                }
                let hours = try FormNumber.whole(form.expiresInHours, field: "expiresInHours", unit: "hours")
                let maxUses = try FormNumber.whole(form.maxUses, field: "maxUses", emptyMeans: "no limit")
                let token = try await enrollmentTokens.create(tenant: page.tenant, by: page.actor, name: form.name, expiresInHours: hours,
                                                              maxUses: maxUses, allowReenrollment: form.allowReenrollment)
                let package = OnboardingController.package(settings: onboarding, tenant: page.tenant, platform: platform, tokenId: token.record.id,
                                                           secret: token.token, expiresAt: token.record.expiresAt)
                var response = try JSONBody.response(package)
                response.headers[.cacheControl] = "no-store"
                response.headers[.contentDisposition] = "attachment; filename=\"\(OnboardingController.packageFileName)\""
                return response
            } catch {
                guard let error = PalisadeError.refusal(error) else { throw error }
                return try await onboardingPage(page, values: form, errors: FieldErrors(error, default: "name"), status: error.status)
            }
        }
        pages.post("onboarding/tokens/:id/revoke", .manageEnrollmentTokens) { page, _ in
            try await enrollmentTokens.revoke(tenant: page.tenant, by: page.actor, id: try page.parameter("id"))
            return page.redirect("/onboarding", notice: .revoked)
        }
    }

    /// `values`: what a refused form sent, shown again.
    func onboardingPage(_ page: SignedInPage, values: OnboardingPackageForm? = nil, errors: FieldErrors = FieldErrors(),
                        status: HTTPResponse.Status = .ok) async throws -> Response {
        let tokens = try await enrollmentTokens.tokens(tenant: page.tenant, limit: 200, after: page.query("cursor"))
        let now = store.clock.now
        let insecure = onboarding.publicURL.value.hasPrefix("http://")
        let chosen = values?.platform ?? "linux"
        return page.render(OnboardingPage(
            tokens: tokens.items.map { token in
                let state = token.revokedAt != nil ? "revoked" : token.expiresAt < now ? "expired" : (token.maxUses.map { token.uses >= $0 } ?? false) ? "used up" : "usable"
                return .init(id: token.id, name: token.name, expires: Show.time(token.expiresAt), uses: token.uses,
                             maxUses: token.maxUses.map(String.init) ?? "no limit", state: state, reimaging: token.allowReenrollment,
                             canRevoke: page.may(.manageEnrollmentTokens) && state == "usable")
            },
            noTokens: tokens.items.isEmpty,
            platforms: OnboardingController.Platform.allCases.map { platform in
                .init(value: platform.rawValue, label: DevicePlatform(rawValue: platform.rawValue)?.title ?? platform.rawValue,
                      selected: platform.rawValue == chosen,
                      commands: OnboardingController.installCommand(platform: platform, insecureHTTP: insecure).joined(separator: "\n"))
            },
            serverURL: onboarding.publicURL.value, caSHA256: onboarding.ca?.sha256,
            name: values?.name ?? "", expiresInHours: values?.expiresInHours ?? "24", maxUses: values?.maxUses ?? "",
            canManage: page.may(.manageEnrollmentTokens),
            errors: errors.byField, general: errors.general), title: "Onboarding", status: status)
    }

    // MARK: Tenant settings, users, API tokens, audit

    func addAdministrationPages(to pages: PageRoutes) {
        pages.get("tenant-settings", .readSettings) { page in try await tenantSettingsPage(page) }
        pages.post("tenant-settings", .manageSettings, form: TenantSettingsForm.self) { page, form in
            var scope = EnforcementScope()
            scope.platforms = form.enforced
            scope.takeOver = form.takeOver
            scope.scope = form.scope == "tagged" ? .tagged : .all
            scope.tag = scope.scope == .tagged ? form.tag : nil
            do {
                // Both halves of the form are judged before either is saved, and saved together.
                let days = try FormNumber.whole(form.staleAfterDays, field: "staleAfterDays", unit: "days")
                _ = try await settings.set(tenant: page.tenant, by: page.actor, enforcement: scope, devices: DeviceSettings(staleAfterDays: days))
            } catch {
                guard let error = PalisadeError.refusal(error) else { throw error }
                return try await tenantSettingsPage(page, errors: FieldErrors(error, default: "tag"), status: error.status)
            }
            return page.redirect("/tenant-settings", notice: .saved)
        }

        pages.get("users", .readUsers) { page in try await usersPage(page) }
        pages.post("users", .manageUsers, form: NewUserForm.self) { page, form in
            do {
                guard let role = Role(rawValue: form.role) else { throw PalisadeError.invalid("choose a role", field: "role") }
                _ = try await access.createUser(tenant: page.tenant, by: page.actor, email: form.email, displayName: form.displayName,
                                                role: role, password: form.password ?? "")
            } catch {
                guard let error = PalisadeError.refusal(error) else { throw error }
                return try await usersPage(page, values: form, errors: FieldErrors(error, default: "email"), status: error.status)
            }
            return page.redirect("/users", notice: .created)
        }
        pages.post("users/:id/role", .manageUsers, form: UserRoleForm.self) { page, form in
            guard let role = Role(rawValue: form.role) else { throw PalisadeError.invalid("choose a role", field: "role") }
            _ = try await access.updateUser(tenant: page.tenant, by: page.actor, id: try page.parameter("id"), displayName: nil, role: role, password: nil)
            return page.redirect("/users", notice: .saved)
        }
        pages.post("users/:id/delete", .manageUsers) { page, _ in
            try await access.deleteUser(tenant: page.tenant, by: page.actor, id: try page.parameter("id"))
            return page.redirect("/users", notice: .deleted)
        }

        pages.get("api-tokens", .readAPITokens) { page in try await apiTokensPage(page) }
        pages.post("api-tokens", .manageAPITokens, form: NewAPITokenForm.self) { page, form in
            do {
                guard let role = Role(rawValue: form.role) else { throw PalisadeError.invalid("choose a role", field: "role") }
                let days = try FormNumber.whole(form.expiresInDays, field: "expiresInDays", unit: "days", emptyMeans: "no expiry")
                let created = try await access.createAPIToken(tenant: page.tenant, by: page.actor, name: form.name, role: role, expiresInDays: days)
                // Shown once, in this answer only.
                return try await apiTokensPage(page, created: created)
            } catch {
                guard let error = PalisadeError.refusal(error) else { throw error }
                return try await apiTokensPage(page, values: form, errors: FieldErrors(error, default: "name"), status: error.status)
            }
        }
        pages.post("api-tokens/:id/revoke", .manageAPITokens) { page, _ in
            try await access.revokeAPIToken(tenant: page.tenant, by: page.actor, id: try page.parameter("id"))
            return page.redirect("/api-tokens", notice: .revoked)
        }

        pages.get("audit", .readAudit) { page in try await auditPage(page) }
    }

    func tenantSettingsPage(_ page: SignedInPage, errors: FieldErrors = FieldErrors(), status: HTTPResponse.Status = .ok) async throws -> Response {
        let scope = try await settings.enforcement(tenant: page.tenant)
        let devices = try await settings.deviceSettings(tenant: page.tenant)
        return page.render(TenantSettingsPage(
            platforms: DevicePlatform.allCases.map { platform in
                .init(value: platform.rawValue, label: platform.title, on: scope.platforms[platform] ?? false, takeOver: scope.takeOver[platform] ?? false)
            },
            tagged: scope.scope == .tagged, tag: scope.tag ?? "", staleAfterDays: devices.staleAfterDays,
            canManage: page.may(.manageSettings), errors: errors.byField, general: errors.general), title: "Tenant settings", status: status)
    }

    static func roleChoices(selected: Role?) -> [Choice] {
        Role.allCases.map { Choice(value: $0.rawValue, label: PageTemplates.roleTitle($0), selected: $0 == selected) }
    }

    /// `values`: what a refused new-user form sent, shown again (never the password).
    func usersPage(_ page: SignedInPage, values: NewUserForm? = nil, errors: FieldErrors = FieldErrors(), status: HTTPResponse.Status = .ok) async throws -> Response {
        let users = try await access.users(tenant: page.tenant, limit: 500, after: page.query("cursor"))
        let manage = page.may(.manageUsers)
        return page.render(UsersPage(
            users: users.items.map { user in
                .init(id: user.id, email: user.email, displayName: user.displayName, role: PageTemplates.roleTitle(user.role),
                      roles: Self.roleChoices(selected: user.role), locked: user.lockedUntil.map(Show.time),
                      canManage: manage && user.id != page.principal.id)
            },
            roles: Self.roleChoices(selected: values.flatMap { Role(rawValue: $0.role) } ?? .readOnlyOperator),
            email: values?.email ?? "", displayName: values?.displayName ?? "",
            canManage: manage, errors: errors.byField, general: errors.general), title: "Users", status: status)
    }

    /// `created`: a token just created, shown once; `values`: what a refused form sent.
    func apiTokensPage(_ page: SignedInPage, created: CreatedAPIToken? = nil, values: NewAPITokenForm? = nil, errors: FieldErrors = FieldErrors(),
                       status: HTTPResponse.Status = .ok) async throws -> Response {
        let tokens = try await access.apiTokens(tenant: page.tenant, limit: 500, after: page.query("cursor"))
        let now = store.clock.now
        let manage = page.may(.manageAPITokens)
        var response = page.render(APITokensPage(
            tokens: tokens.items.map { token in
                let state = token.revokedAt != nil ? "revoked" : (token.expiresAt.map { $0 < now } ?? false) ? "expired" : "active"
                return .init(id: token.id, name: token.name, role: PageTemplates.roleTitle(token.role), created: Show.time(token.createdAt),
                             createdBy: token.createdBy, expires: token.expiresAt.map(Show.time) ?? "never", lastUsed: Show.time(token.lastUsedAt),
                             state: state, canRevoke: manage && state == "active")
            },
            created: created.map { .init(name: $0.record.name, token: $0.token) },
            roles: Self.roleChoices(selected: values.flatMap { Role(rawValue: $0.role) } ?? .readOnlyOperator),
            name: values?.name ?? "", expiresInDays: values?.expiresInDays ?? "90",
            canManage: manage, errors: errors.byField, general: errors.general), title: "API tokens", status: status)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    func auditPage(_ page: SignedInPage) async throws -> Response {
        let query = AuditQuery(actor: page.query("actor"), action: page.query("action"), targetId: page.query("target"))
        let events = try await reports.auditEvents(tenant: page.tenant, query: query, limit: 100, after: page.query("cursor"))
        var next: String?
        if let cursor = events.nextCursor {
            next = "/audit?" + Show.query([("actor", query.actor), ("action", query.action), ("target", query.targetId), ("cursor", cursor)])
        }
        return page.render(AuditPage(
            events: events.items.map { event in
                .init(at: Show.time(event.at), actor: event.actor.name, actorType: event.actor.type.rawValue, source: Show.text(event.actor.sourceAddress),
                      action: event.action.rawValue, target: "\(event.target.type) \(event.target.name)", targetId: event.target.id,
                      old: event.oldValue.map { $0.compactText }, new: event.newValue.map { $0.compactText })
            },
            empty: events.items.isEmpty,
            actor: query.actor ?? "", action: query.action ?? "", target: query.targetId ?? "",
            next: next), title: "Audit log")
    }
}

/// Onboarding (`onboarding.mustache`): the package form, install commands, enrollment tokens.
struct OnboardingPage: PageModel {
    static let template = "onboarding"

    struct Token: Sendable {
        let id: String
        let name: String
        let expires: String
        let uses: Int
        /// The limit, or "no limit".
        let maxUses: String
        /// "usable", "used up", "expired" or "revoked".
        let state: String
        /// For a re-imaging wave (devices may enroll again under a known hardware id).
        let reimaging: Bool
        let canRevoke: Bool
    }

    struct Platform: Sendable {
        let value: String
        let label: String
        let selected: Bool
        /// The install commands, a line each.
        let commands: String
    }

    var csrf = ""
    let tokens: [Token]
    let noTokens: Bool
    let platforms: [Platform]
    let serverURL: String
    let caSHA256: String?
    /// The package form's fields.
    let name: String
    let expiresInHours: String
    let maxUses: String
    let canManage: Bool
    let errors: [String: String]
    let general: String?
}

/// Tenant settings (`tenant-settings.mustache`): the enforcement scope and device settings.
struct TenantSettingsPage: PageModel {
    static let template = "tenant-settings"

    struct Platform: Sendable {
        let value: String
        let label: String
        /// Palisade enforces on this platform.
        let on: Bool
        let takeOver: Bool
    }

    var csrf = ""
    let platforms: [Platform]
    let tagged: Bool
    let tag: String
    let staleAfterDays: Int
    let canManage: Bool
    let errors: [String: String]
    let general: String?
}

/// Users and roles (`users.mustache`).
struct UsersPage: PageModel {
    static let template = "users"

    struct User: Sendable {
        let id: String
        let email: String
        let displayName: String
        let role: String
        let roles: [Choice]
        /// Until when the account is locked after failed sign-ins.
        let locked: String?
        /// Another person's account (no one changes or deletes their own here).
        let canManage: Bool
    }

    var csrf = ""
    let users: [User]
    /// The new-user form's fields.
    let roles: [Choice]
    let email: String
    let displayName: String
    let canManage: Bool
    let errors: [String: String]
    let general: String?
}

/// API tokens (`api-tokens.mustache`), with a token just created shown once.
struct APITokensPage: PageModel {
    static let template = "api-tokens"

    struct Token: Sendable {
        let id: String
        let name: String
        let role: String
        let created: String
        let createdBy: String
        let expires: String
        let lastUsed: String
        /// "active", "expired" or "revoked".
        let state: String
        let canRevoke: Bool
    }

    struct Created: Sendable {
        let name: String
        /// The secret, in this answer only.
        let token: String
    }

    var csrf = ""
    let tokens: [Token]
    let created: Created?
    /// The new-token form's fields.
    let roles: [Choice]
    let name: String
    let expiresInDays: String
    let canManage: Bool
    let errors: [String: String]
    let general: String?
}

/// The audit log (`audit.mustache`), with its filters.
struct AuditPage: PageModel {
    static let template = "audit"

    struct Event: Sendable {
        let at: String
        let actor: String
        let actorType: String
        let source: String?
        let action: String
        let target: String
        let targetId: String
        /// The value before and after, as compact JSON.
        let old: String?
        let new: String?
    }

    var csrf = ""
    let events: [Event]
    let empty: Bool
    /// The filters.
    let actor: String
    let action: String
    let target: String
    let next: String?
}

/// The onboarding package form.
struct OnboardingPackageForm: Decodable, Sendable {
    @FormText var platform: String
    @FormText var name: String
    /// Whole numbers, checked by `FormNumber` so that a refusal shows what was typed.
    @FormText var expiresInHours: String
    @FormText var maxUses: String
    @Checkbox var allowReenrollment: Bool
}

/// The tenant settings form: a pair of checkboxes per platform (`platform.<platform>`,
/// `takeOver.<platform>`), the scope, the pilot tag and the stale limit.
struct TenantSettingsForm: Decodable, Sendable {
    var enforced: [DevicePlatform: Bool] = [:]
    var takeOver: [DevicePlatform: Bool] = [:]
    /// "all" or "tagged".
    @FormText var scope: String
    /// The pilot tag; nil when the form did not send one.
    var tag: String?
    @FormText var staleAfterDays: String

    struct Name: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let form = try decoder.container(keyedBy: Name.self)
        for platform in DevicePlatform.allCases {
            enforced[platform] = try form.decode(Checkbox.self, forKey: Name(stringValue: "platform.\(platform.rawValue)")).wrappedValue
            takeOver[platform] = try form.decode(Checkbox.self, forKey: Name(stringValue: "takeOver.\(platform.rawValue)")).wrappedValue
        }
        _scope = try form.decode(FormText.self, forKey: Name(stringValue: "scope"))
        tag = try form.decodeIfPresent(String.self, forKey: Name(stringValue: "tag"))?.trimmingCharacters(in: .whitespacesAndNewlines)
        _staleAfterDays = try form.decode(FormText.self, forKey: Name(stringValue: "staleAfterDays"))
    }
}

/// The new-user form.
struct NewUserForm: Decodable, Sendable {
    @FormText var email: String
    @FormText var displayName: String
    @FormText var role: String
    /// As typed (not trimmed): white space may be part of a password.
    var password: String?
}

/// A user's role form.
struct UserRoleForm: Decodable, Sendable {
    @FormText var role: String
}

/// The new API token form.
struct NewAPITokenForm: Decodable, Sendable {
    @FormText var name: String
    @FormText var role: String
    /// Days; empty for a token that does not expire (`FormNumber`).
    @FormText var expiresInDays: String
}

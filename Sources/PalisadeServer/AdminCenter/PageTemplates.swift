import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import PalisadeCore

/// The admin center's templates, embedded in the binary, and the layout every page shares.
/// `{{value}}` escapes HTML (quotes included); the only unescaped insertion is the layout's
/// `{{{content}}}`, which is a page this library rendered.
struct PageTemplates: Sendable {
    static let shared = PageTemplates()

    let library: MustacheLibrary

    init() {
        var library = MustacheLibrary()
        for (name, bytes) in Self.sources {
            do {
                try library.register(String(decoding: bytes, as: UTF8.self), named: name)
            } catch {
                preconditionFailure("admin center template \(name) does not parse: \(error)")
            }
        }
        self.library = library
    }

    static let sources: [(String, [UInt8])] = [
        ("layout", PackageResources.layout_mustache),
        ("sign-in", PackageResources.sign_in_mustache),
        ("error", PackageResources.error_mustache),
        ("overview", PackageResources.overview_mustache),
        ("devices", PackageResources.devices_mustache),
        ("device", PackageResources.device_mustache),
        ("groups", PackageResources.groups_mustache),
        ("group", PackageResources.group_mustache),
        ("group-form", PackageResources.group_form_mustache),
        ("policies", PackageResources.policies_mustache),
        ("policy", PackageResources.policy_mustache),
        ("policy-form", PackageResources.policy_form_mustache),
        ("policy-report", PackageResources.policy_report_mustache),
        ("revision-diff", PackageResources.revision_diff_mustache),
        ("reports", PackageResources.reports_mustache),
        ("drift-report", PackageResources.drift_report_mustache),
        ("enrollment-report", PackageResources.enrollment_report_mustache),
        ("onboarding", PackageResources.onboarding_mustache),
        ("tenant-settings", PackageResources.tenant_settings_mustache),
        ("users", PackageResources.users_mustache),
        ("api-tokens", PackageResources.api_tokens_mustache),
        ("audit", PackageResources.audit_mustache),
    ]

    /// A page inside the layout: navigation for what the role may read, the signed-in person,
    /// and the CSRF token for the page's forms.
    func page<Model: PageModel>(_ model: Model, title: String, principal: Principal?, path: String,
                                status: HTTPResponse.Status = .ok, notice: String? = nil) -> Response {
        var model = model
        model.csrf = principal?.csrfToken ?? ""
        let layout = Layout(
            title: title,
            content: library.render(model, withTemplate: Model.template) ?? "",
            csrf: principal?.csrfToken ?? "",
            principal: principal.map { Layout.Person(name: $0.name, role: Self.roleTitle($0.role)) },
            nav: principal.map { Self.navigation(for: $0.role, path: path) } ?? [],
            notice: notice)
        return html(library.render(layout, withTemplate: "layout") ?? "", status: status)
    }

    /// A page without the signed-in layout (sign-in).
    func standalone<Model: PageModel>(_ model: Model, title: String, status: HTTPResponse.Status = .ok) -> Response {
        let layout = Layout(title: title, content: library.render(model, withTemplate: Model.template) ?? "",
                            csrf: "", principal: nil, nav: [], notice: nil)
        return html(library.render(layout, withTemplate: "layout") ?? "", status: status)
    }

    func html(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func navigation(for role: Role, path: String) -> [Layout.Link] {
        let items: [(String, String, Permission?)] = [
            ("/", "Overview", .readReports),
            ("/devices", "Devices", .readDevices),
            ("/groups", "Groups", .readGroups),
            ("/policies", "Endpoint security", .readPolicies),
            ("/reports", "Reports", .readReports),
            ("/onboarding", "Onboarding", .readEnrollmentTokens),
            ("/tenant-settings", "Tenant settings", .readSettings),
            ("/users", "Users", .readUsers),
            ("/api-tokens", "API tokens", .readAPITokens),
            ("/audit", "Audit log", .readAudit),
        ]
        return items.filter { $0.2.map(role.allows) ?? true }.map { href, label, _ in
            let current = href == "/" ? path == "/" : (path == href || path.hasPrefix(href + "/"))
            return Layout.Link(href: href, label: label, current: current)
        }
    }

    static func roleTitle(_ role: Role) -> String {
        switch role {
        case .administrator: "Administrator"
        case .endpointSecurityManager: "Endpoint security manager"
        case .readOnlyOperator: "Read-only operator"
        case .helpDeskOperator: "Help desk operator"
        }
    }
}

/// What a page's template renders: a struct whose stored properties are the template's keys.
///
/// swift-mustache reads a value's children by reflection (`Mirror`), so only stored properties
/// are seen (a computed property is not: a count or a flag the template reads is stored). A
/// `nil` optional is absent: a section for it is skipped and, as for a key missing from a
/// dictionary, a `{{name}}` inside another section looks further up (the enclosing row, then
/// the page). `false` and an empty array skip a section; any string, even an empty one, opens
/// it (`Show.text` turns empty text into nil); a number opens it, even 0. A value is written
/// with `String(describing:)`, HTML-escaped unless the template uses `{{{triple}}}` (the charts
/// only). Property names are the template's keys, so a page's model is the list of what its
/// template may read. Mind the looking up: a row's property left nil shows the page's property
/// of the same name, if it has one (give them different names, or store a value).
protocol PageModel: Sendable {
    /// The template (a name in `PageTemplates.sources`) that renders this model.
    static var template: String { get }
    /// The session's CSRF token for the page's forms; set when the page is rendered.
    var csrf: String { get set }
}

/// The layout around every page.
struct Layout: Sendable {
    struct Person: Sendable {
        let name: String
        let role: String
    }

    /// An entry of the navigation; `current` marks the section the page belongs to.
    struct Link: Sendable {
        let href: String
        let label: String
        let current: Bool
    }

    let title: String
    /// The page, already rendered (and escaped) by its own template.
    let content: String
    let csrf: String
    let principal: Person?
    let nav: [Link]
    let notice: String?
}

/// A choice in a `<select>` or a list of filters.
struct Choice: Sendable {
    let value: String
    let label: String
    let selected: Bool
}

extension SignedInPage {
    func render(_ model: some PageModel, title: String, status: HTTPResponse.Status = .ok) -> Response {
        PageTemplates.shared.page(model, title: title, principal: principal, path: path, status: status,
                                  notice: query("notice").flatMap { Notice(rawValue: $0)?.text })
    }

    /// After a change: back to a page, with a fixed message (never text from the URL).
    func redirect(_ location: String, notice: Notice? = nil) -> Response {
        var target = location
        if let notice { target += (location.contains("?") ? "&" : "?") + "notice=" + notice.rawValue }
        return Response(status: .seeOther, headers: [.location: target])
    }
}

/// The messages shown after a change, chosen by key so a link cannot make the page say
/// something else.
enum Notice: String {
    case saved, created, deleted, synced, retired, approved, revoked, rolledBack, assigned, signedIn
    var text: String {
        switch self {
        case .saved: "Saved."
        case .created: "Created."
        case .deleted: "Deleted."
        case .synced: "Sync requested: online devices check in and report now; offline devices when they return."
        case .retired: "Device retired."
        case .approved: "Re-enrollment approved."
        case .revoked: "Revoked."
        case .rolledBack: "Rolled back: a new revision with the chosen revision's settings was saved."
        case .assigned: "Assignments saved."
        case .signedIn: "Signed in."
        }
    }
}

/// Formatting shared by the pages.
enum Show {
    static func time(_ date: Date?) -> String {
        guard let date else { return "never" }
        return date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon)) .replacingOccurrences(of: "T", with: " ") + " UTC"
    }

    static func json(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        default: value.compactText
        }
    }

    /// Mustache renders a section for any string, even an empty one: absent text is nil.
    static func text(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    /// A link's query from name and value pairs, leaving out those without a value: `a=1&b=x%20y`.
    static func query(_ items: [(String, String?)]) -> String {
        var components = URLComponents()
        components.queryItems = items.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        return components.percentEncodedQuery ?? ""
    }

    static func stateClass(_ state: String) -> String { "state-" + state }
}

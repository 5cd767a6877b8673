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
    func page(_ name: String, title: String, principal: Principal?, path: String, data: [String: Any],
              status: HTTPResponse.Status = .ok, notice: String? = nil) -> Response {
        var data = data
        data["csrf"] = principal?.csrfToken ?? ""
        let content = library.render(Self.withoutNils(data) ?? [:], withTemplate: name) ?? ""
        let layout: [String: Any] = [
            "title": title,
            "content": content,
            "csrf": principal?.csrfToken ?? "",
            "principal": principal.map { ["name": $0.name, "role": Self.roleTitle($0.role)] as [String: Any] } as Any,
            "nav": principal.map { Self.navigation(for: $0.role, path: path) } ?? [],
            "notice": notice as Any,
        ]
        return html(library.render(Self.withoutNils(layout) ?? [:], withTemplate: "layout") ?? "", status: status)
    }

    /// Mustache renders a section for a nil stored as `Any` (an `Optional.none` inside a
    /// value): drop nils from the data, at every depth, so that an absent value is absent.
    static func withoutNils(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return nil }
            return withoutNils(wrapped)
        }
        switch value {
        case let dictionary as [String: Any]: return dictionary.compactMapValues(withoutNils)
        case let array as [[String: Any]]: return array.map { $0.compactMapValues(withoutNils) }
        case let array as [Any]: return array.compactMap(withoutNils)
        default: return value
        }
    }

    /// A page without the signed-in layout (sign-in).
    func standalone(_ name: String, title: String, data: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let content = library.render(Self.withoutNils(data) ?? [:], withTemplate: name) ?? ""
        let layout: [String: Any] = ["title": title, "content": content]
        return html(library.render(layout, withTemplate: "layout") ?? "", status: status)
    }

    func html(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func navigation(for role: Role, path: String) -> [[String: Any]] {
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
            return ["href": href, "label": label, "current": current]
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

extension SignedInPage {
    func render(_ name: String, title: String, _ data: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        PageTemplates.shared.page(name, title: title, principal: principal, path: path, data: data, status: status,
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

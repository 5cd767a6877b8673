import Foundation
import Hummingbird
import PalisadeCore

/// Endpoint security: policies by template and platform, the catalog-generated editor with
/// errors beside their settings and an impact preview before saving, assignments, the policy
/// report, revisions with diff and rollback.
extension AdminCenter {
    func addPolicyPages(to pages: PageRoutes) {
        pages.get("policies", .readPolicies) { page in try await policyList(page) }
        pages.get("policies/new", .managePolicies) { page in
            guard let platform = page.query("platform").flatMap(PolicyPlatform.init(rawValue:)),
                  let template = page.query("template").flatMap(PolicyTemplate.init(rawValue:)) else {
                return choosePolicyKind(page)
            }
            return try policyEditor(page, policy: nil, platform: platform, template: template, name: "", description: "", values: [:], problems: [])
        }
        pages.post("policies", .managePolicies) { page, form in
            guard let platform = form["platform"].flatMap(PolicyPlatform.init(rawValue:)),
                  let template = form["template"].flatMap(PolicyTemplate.init(rawValue:)) else {
                throw PalisadeError.invalid("choose a platform and a template", field: "platform")
            }
            return try await savePolicy(page, form: form, existing: nil, platform: platform, template: template)
        }
        pages.get("policies/:id", .readPolicies) { page in try await policyPage(page) }
        pages.get("policies/:id/edit", .managePolicies) { page in
            let policy = try await policies.policy(tenant: page.tenant, id: try page.parameter("id"))
            return try policyEditor(page, policy: policy, platform: policy.platform, template: policy.template, name: policy.name,
                                    description: policy.description, values: policy.settings, problems: [])
        }
        pages.post("policies/:id", .managePolicies) { page, form in
            let policy = try await policies.policy(tenant: page.tenant, id: try page.parameter("id"))
            return try await savePolicy(page, form: form, existing: policy, platform: policy.platform, template: policy.template)
        }
        pages.post("policies/:id/assignments", .managePolicies) { page, form in
            let id = try page.parameter("id")
            let include = form.all("include").filter { !$0.isEmpty }, exclude = form.all("exclude").filter { !$0.isEmpty }
            do {
                if form["action"] == "preview" {
                    let preview = try await policies.preview(tenant: page.tenant, policy: id, settings: nil, include: include, exclude: exclude)
                    return try await policyPage(page, assignmentPreview: preview, include: include, exclude: exclude)
                }
                _ = try await policies.setAssignments(tenant: page.tenant, by: page.actor, policy: id, include: include, exclude: exclude)
            } catch {
                guard let error = PalisadeError.refusal(error) else { throw error }
                return try await policyPage(page, include: include, exclude: exclude, assignmentError: error.message, status: error.status)
            }
            return page.redirect("/policies/\(id)", notice: .assigned)
        }
        pages.post("policies/:id/delete", .managePolicies) { page, _ in
            try await policies.delete(tenant: page.tenant, by: page.actor, id: try page.parameter("id"))
            return page.redirect("/policies", notice: .deleted)
        }
    }

    func policyList(_ page: SignedInPage) async throws -> Response {
        let policies = try await allPolicies(tenant: page.tenant)
        let sections = PolicyTemplate.allCases.compactMap { template -> PolicyListPage.Section? in
            let rows = policies.filter { $0.template == template }.sorted { ($0.platform.rawValue, $0.name) < ($1.platform.rawValue, $1.name) }
            guard !rows.isEmpty else { return nil }
            return PolicyListPage.Section(title: template.title, policies: rows.map { policy in
                PolicyListPage.Row(id: policy.id, name: policy.name, platform: policy.platform.title, revision: policy.revision,
                                   settings: policy.settings.count, groups: policy.assignments.include.count, updated: Show.time(policy.updatedAt))
            })
        }
        return page.render(PolicyListPage(sections: sections, empty: sections.isEmpty, canManage: page.may(.managePolicies)), title: "Endpoint security")
    }

    /// The tenant's policies for the lists (endpoint security, reports), page after page, up to
    /// 10,000.
    func allPolicies(tenant: String) async throws -> [Policy] {
        var found: [Policy] = []
        var cursor: String?
        repeat {
            let batch = try await policies.policies(tenant: tenant, limit: 1000, after: cursor)
            found += batch.items
            cursor = batch.nextCursor
        } while cursor != nil && found.count < 10_000
        return found
    }

    func choosePolicyKind(_ page: SignedInPage) -> Response {
        let kinds = PolicyPlatform.allCases.map { platform in
            PolicyKindsPage.Platform(platform: platform.title, templates: PolicyTemplate.allCases.compactMap { template in
                let count = store.catalog.definitions(platform: platform, template: template).count
                return count == 0 ? nil : .init(href: "/policies/new?platform=\(platform.rawValue)&template=\(template.rawValue)", title: template.title, count: count)
            })
        }
        return page.render(PolicyKindsPage(choose: kinds), title: "New policy")
    }

    func policyEditor(_ page: SignedInPage, policy: Policy?, platform: PolicyPlatform, template: PolicyTemplate, name: String, description: String,
                      values: [String: JSONValue], problems: [SettingProblem], fieldErrors: FieldErrors = FieldErrors(),
                      preview: ImpactPreview? = nil, status: HTTPResponse.Status = .ok) throws -> Response {
        let form = PolicyForm(catalog: store.catalog, platform: platform, template: template)
        let known = Set(form.definitions.map(\.id))
        let stray = problems.filter { !known.contains($0.settingId) }.map(\.message)
        return page.render(PolicyFormPage(
            action: policy.map { "/policies/\($0.id)" } ?? "/policies",
            isNew: policy == nil, policyId: policy?.id,
            platform: platform.rawValue, platformTitle: platform.title, template: template.rawValue, templateTitle: template.title,
            name: name, description: description,
            fields: form.fields(values: values, problems: problems),
            stray: stray,
            errors: fieldErrors.byField, general: fieldErrors.general,
            preview: preview.map(PreviewData.init)),
            title: policy == nil ? "New \(platform.title) \(template.title.lowercased()) policy" : "Edit \(policy!.name)", status: status)
    }

    func savePolicy(_ page: SignedInPage, form: FormData, existing: Policy?, platform: PolicyPlatform, template: PolicyTemplate) async throws -> Response {
        let editor = PolicyForm(catalog: store.catalog, platform: platform, template: template)
        let (settings, unreadable) = editor.settings(from: form)
        let name = form["name"] ?? "", description = form["description"] ?? ""
        let rerender = { (errors: FieldErrors, problems: [SettingProblem], preview: ImpactPreview?, status: HTTPResponse.Status) in
            try policyEditor(page, policy: existing, platform: platform, template: template, name: name, description: description,
                             values: settings, problems: problems, fieldErrors: errors, preview: preview, status: status)
        }
        do {
            // The service's rules, with the values this form could not read: every problem at once.
            let draft = try policies.validated(PolicyDraft(name: name, description: description, platform: platform, template: template, settings: settings),
                                               unreadable: unreadable)
            if let existing, form["action"] == "preview" {
                let preview = try await policies.preview(tenant: page.tenant, policy: existing.id, settings: draft.settings, include: nil, exclude: nil)
                return try rerender(FieldErrors(), [], preview, .ok)
            }
            let saved = if let existing {
                try await policies.update(tenant: page.tenant, by: page.actor, id: existing.id, draft)
            } else {
                try await policies.create(tenant: page.tenant, by: page.actor, draft)
            }
            return page.redirect("/policies/\(saved.id)", notice: existing == nil ? .created : .saved)
        } catch let error as DomainError where error.code == .invalidSettings {
            var errors = FieldErrors()
            let problems = error.settingProblems
            errors.general = "The policy was not saved: \(problems.count == 1 ? "one setting needs" : "\(problems.count) settings need") attention (shown beside each)."
            return try rerender(errors, problems, nil, .badRequest)
        } catch {
            guard let error = PalisadeError.refusal(error) else { throw error }
            return try rerender(FieldErrors(error, default: "name"), [], nil, error.status)
        }
    }

    func policyPage(_ page: SignedInPage, assignmentPreview: ImpactPreview? = nil, include: [String]? = nil, exclude: [String]? = nil,
                    assignmentError: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        let id = try page.parameter("id")
        let policy = try await policies.policy(tenant: page.tenant, id: id)
        let groups = try await groups.groups(tenant: page.tenant, limit: 1000, after: nil).items.sorted { $0.name.localizedCaseInsensitiveCompare($1.name) == .orderedAscending }
        let names = Dictionary(uniqueKeysWithValues: groups.map { ($0.id, $0.name) })
        let included = Set(include ?? policy.assignments.include), excluded = Set(exclude ?? policy.assignments.exclude)
        let report = page.may(.readReports) ? try await reports.policyReport(tenant: page.tenant, policy: id, limit: 1) : nil
        let revisions = try await policies.revisions(tenant: page.tenant, policy: id, limit: 20, after: nil).items
        let manage = page.may(.managePolicies)
        return page.render(PolicyPage(
            policy: .init(id: policy.id, name: policy.name, description: Show.text(policy.description), platform: policy.platform.title,
                          template: policy.template.title, revision: policy.revision, updated: Show.time(policy.updatedAt)),
            settings: policy.settings.sorted { $0.key < $1.key }.map { .init(id: $0.key, value: Show.json($0.value)) },
            noSettings: policy.settings.isEmpty,
            assigned: policy.assignments.include.map { .init(name: names[$0] ?? $0, id: $0) },
            excludedGroups: policy.assignments.exclude.map { .init(name: names[$0] ?? $0, id: $0) },
            groupChoices: groups.map { group in
                .init(id: group.id, name: group.name, included: included.contains(group.id), excluded: excluded.contains(group.id))
            },
            noGroups: groups.isEmpty,
            assignmentPreview: assignmentPreview.map(PreviewData.init),
            assignmentError: assignmentError,
            summary: report.map { SummaryData($0.summary) },
            revisions: revisions.map { revision in
                .init(revision: revision.revision, name: revision.name, at: Show.time(revision.createdAt), by: revision.createdBy?.name ?? "",
                      restored: revision.restoredRevision, settings: revision.settingCount, current: revision.revision == policy.revision,
                      diff: revision.revision > 1 ? "/policies/\(id)/revisions/\(revision.revision)?against=\(revision.revision - 1)" : nil,
                      canRollback: manage && revision.revision != policy.revision)
            },
            canManage: manage, readReports: page.may(.readReports)), title: policy.name, status: status)
    }
}

/// The policy list (`policies.mustache`): a table per template.
struct PolicyListPage: PageModel {
    static let template = "policies"

    struct Section: Sendable {
        let title: String
        let policies: [Row]
    }

    struct Row: Sendable {
        let id: String
        let name: String
        let platform: String
        let revision: Int
        /// How many settings it sets.
        let settings: Int
        /// How many groups it is assigned to.
        let groups: Int
        let updated: String
    }

    var csrf = ""
    let sections: [Section]
    let empty: Bool
    let canManage: Bool
}

/// Choosing a new policy's platform and template (`policies.mustache`, its `chooser` part).
struct PolicyKindsPage: PageModel {
    static let template = "policies"

    struct Platform: Sendable {
        let platform: String
        let templates: [Template]
    }

    struct Template: Sendable {
        let href: String
        let title: String
        /// How many settings the catalog has for it.
        let count: Int
    }

    var csrf = ""
    let choose: [Platform]
    let chooser = true
    let canManage = true
}

/// The policy editor (`policy-form.mustache`), generated from the catalog (`PolicyForm`).
struct PolicyFormPage: PageModel {
    static let template = "policy-form"
    var csrf = ""
    /// Where the form posts: the policy, or the list for a new one.
    let action: String
    let isNew: Bool
    let policyId: String?
    let platform: String
    let platformTitle: String
    let template: String
    let templateTitle: String
    let name: String
    let description: String
    let fields: [PolicyForm.Field]
    /// Problems with settings the form does not show (not in this template).
    let stray: [String]
    let errors: [String: String]
    let general: String?
    let preview: PreviewData?
}

/// A policy's page (`policy.mustache`): settings, state, assignments, revisions.
struct PolicyPage: PageModel {
    static let template = "policy"

    struct Policy: Sendable {
        let id: String
        let name: String
        let description: String?
        let platform: String
        let template: String
        let revision: Int
        let updated: String
    }

    struct Setting: Sendable {
        let id: String
        let value: String
    }

    struct GroupLink: Sendable {
        let name: String
        let id: String
    }

    /// A row of the assignments form.
    struct GroupChoice: Sendable {
        let id: String
        let name: String
        let included: Bool
        let excluded: Bool
    }

    struct Revision: Sendable {
        let revision: Int
        let name: String
        let at: String
        let by: String
        /// The revision a rollback restored.
        let restored: Int?
        let settings: Int
        let current: Bool
        /// The link to its changes from the revision before.
        let diff: String?
        let canRollback: Bool
    }

    var csrf = ""
    let policy: Policy
    let settings: [Setting]
    let noSettings: Bool
    let assigned: [GroupLink]
    let excludedGroups: [GroupLink]
    let groupChoices: [GroupChoice]
    let noGroups: Bool
    let assignmentPreview: PreviewData?
    let assignmentError: String?
    let summary: SummaryData?
    let revisions: [Revision]
    let canManage: Bool
    let readReports: Bool
}

/// What saving would change on devices (an impact preview), as the pages show it.
struct PreviewData: Sendable {
    struct Count: Sendable {
        let id: String
        let devices: Int
    }

    let evaluated: Int
    let changed: Int
    let settings: [Count]
    let newConflicts: [Count]
    let resolvedConflicts: [Count]
    let hasNewConflicts: Bool

    init(_ preview: ImpactPreview) {
        evaluated = preview.devicesEvaluated
        changed = preview.devicesChanged
        settings = preview.settings.map { Count(id: $0.settingId, devices: $0.devices) }
        newConflicts = preview.newConflicts.map { Count(id: $0.settingId, devices: $0.devices) }
        resolvedConflicts = preview.resolvedConflicts.map { Count(id: $0.settingId, devices: $0.devices) }
        hasNewConflicts = !preview.newConflicts.isEmpty
    }
}

/// A policy's state on its devices: the counts and a stacked bar.
struct SummaryData: Sendable {
    let succeeded: Int
    let error: Int
    let conflict: Int
    let pending: Int
    let notApplicable: Int
    /// SVG (`Chart`), inserted unescaped.
    let bar: String

    init(_ summary: PolicyReport.Summary) {
        let total = summary.succeeded + summary.error + summary.conflict + summary.pending + summary.notApplicable
        succeeded = summary.succeeded
        error = summary.error
        conflict = summary.conflict
        pending = summary.pending
        notApplicable = summary.notApplicable
        bar = Chart.stackedBar([
            ("succeeded", summary.succeeded), ("error", summary.error), ("conflict", summary.conflict),
            ("pending", summary.pending), ("notApplicable", summary.notApplicable),
        ], label: "Policy state on \(total) devices")
    }
}

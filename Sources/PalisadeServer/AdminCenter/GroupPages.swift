import Foundation
import Hummingbird
import PalisadeCore

/// Groups: list, create (static or dynamic with a live rule preview), the group page with its
/// members editor, nesting and rule editor.
extension AdminCenter {
    func addGroupPages(to pages: PageRoutes) {
        pages.get("groups", .readGroups) { page in try await groupList(page) }
        pages.get("groups/new", .manageGroups) { page in groupForm(page, values: NewGroupForm(), errors: FieldErrors()) }
        pages.post("groups", .manageGroups, form: NewGroupForm.self) { page, form in
            do {
                let rule = form.isDynamic ? form.membershipRule : nil
                let group = try await groups.create(tenant: page.tenant, by: page.actor, name: form.name, description: form.description,
                                                    members: [], membershipRule: rule)
                return page.redirect("/groups/\(group.id)", notice: .created)
            } catch {
                guard let error = PalisadeError.refusal(error) else { throw error }
                return groupForm(page, values: form, errors: FieldErrors(error, default: form.isDynamic ? "membershipRule" : "name"), status: error.status)
            }
        }
        pages.get("groups/:id", .readGroups) { page in try await groupPage(page) }
        pages.post("groups/:id", .manageGroups, form: GroupEditForm.self) { page, form in
            let id = try page.parameter("id")
            let current = try await groups.group(tenant: page.tenant, id: id)
            do {
                _ = try await groups.update(tenant: page.tenant, by: page.actor, id: id, name: form.name, description: form.description,
                                            membershipRule: current.membershipRule == nil ? nil : form.membershipRule)
            } catch {
                guard let error = PalisadeError.refusal(error) else { throw error }
                return try await groupPage(page, edits: form, errors: FieldErrors(error, default: "name"), status: error.status)
            }
            return page.redirect("/groups/\(id)", notice: .saved)
        }
        pages.post("groups/:id/members", .manageGroups, form: GroupMembersForm.self) { page, form in
            let id = try page.parameter("id")
            let entries = form.devices.split(whereSeparator: { $0 == "," || $0.isNewline }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let nested = [form.nestedGroup].filter { !$0.isEmpty }
            do {
                let deviceIds = try await devices.resolve(tenant: page.tenant, namesOrIds: entries, field: "devices")
                _ = try await groups.addMembers(tenant: page.tenant, by: page.actor, group: id, deviceIds: deviceIds, groupIds: nested)
            } catch {
                guard let error = PalisadeError.refusal(error) else { throw error }
                return try await groupPage(page, memberText: form.devices, errors: FieldErrors(error, default: "devices"), status: error.status)
            }
            return page.redirect("/groups/\(id)", notice: .saved)
        }
        pages.post("groups/:id/members/:member/remove", .manageGroups) { page, _ in
            let id = try page.parameter("id")
            try await groups.removeMember(tenant: page.tenant, by: page.actor, group: id, deviceId: try page.parameter("member"))
            return page.redirect("/groups/\(id)", notice: .saved)
        }
        pages.post("groups/:id/delete", .manageGroups) { page, _ in
            try await groups.delete(tenant: page.tenant, by: page.actor, id: try page.parameter("id"))
            return page.redirect("/groups", notice: .deleted)
        }
    }

    func groupList(_ page: SignedInPage) async throws -> Response {
        let result = try await groups.groups(tenant: page.tenant, limit: 200, after: page.query("cursor"))
        let rows = result.items.sorted { $0.name.localizedCaseInsensitiveCompare($1.name) == .orderedAscending }.map { group in
            GroupListPage.Row(id: group.id, name: group.name, description: group.description, kind: group.membershipRule == nil ? "static" : "dynamic",
                              rule: group.membershipRule, members: group.memberCount, nested: (group.nestedGroups ?? []).count)
        }
        return page.render(GroupListPage(
            groups: rows, empty: rows.isEmpty, canManage: page.may(.manageGroups),
            next: result.nextCursor.map { "/groups?cursor=\($0)" }), title: "Groups")
    }

    func groupForm(_ page: SignedInPage, values: NewGroupForm, errors: FieldErrors, status: HTTPResponse.Status = .ok) -> Response {
        page.render(NewGroupPage(
            name: values.name, description: values.description,
            dynamic: values.isDynamic, membershipRule: values.membershipRule,
            errors: errors.byField, general: errors.general), title: "New group", status: status)
    }

    /// `edits`: what a refused edit form sent, shown again instead of the group's values.
    func groupPage(_ page: SignedInPage, edits: GroupEditForm? = nil, memberText: String = "", errors: FieldErrors = FieldErrors(),
                   status: HTTPResponse.Status = .ok) async throws -> Response {
        let id = try page.parameter("id")
        let group = try await groups.group(tenant: page.tenant, id: id)
        let members = try await groups.members(tenant: page.tenant, group: id, limit: 200, after: page.query("cursor"))
        let allGroups = try await groups.groups(tenant: page.tenant, limit: 1000, after: nil).items
        let names = Dictionary(uniqueKeysWithValues: allGroups.map { ($0.id, $0.name) })
        let nested = group.nestedGroups ?? []
        let isStatic = group.membershipRule == nil
        let manage = page.may(.manageGroups)
        return page.render(GroupPage(
            group: .init(id: group.id, name: group.name, description: group.description, memberCount: group.memberCount),
            isStatic: isStatic, rule: group.membershipRule,
            edit: .init(name: edits.map { $0.name ?? "" } ?? group.name, description: edits?.description ?? group.description,
                        membershipRule: edits?.membershipRule ?? group.membershipRule ?? ""),
            members: members.items.map { .init(id: $0.id, name: $0.name, platform: $0.platform.title, canRemove: manage && isStatic) },
            noMembers: members.items.isEmpty, moreMembers: members.nextCursor.map { "/groups/\(id)?cursor=\($0)" },
            nested: nested.map { .init(id: $0, name: names[$0] ?? $0, canRemove: manage) },
            hasNested: !nested.isEmpty,
            nestable: allGroups.filter { $0.id != id && !nested.contains($0.id) }.map { .init(id: $0.id, name: $0.name) },
            memberText: memberText,
            canManage: manage, canSync: page.may(.syncDevices),
            errors: errors.byField, general: errors.general), title: group.name, status: status)
    }
}

/// A refusal, placed beside the form field it names (`details.field`), or above the form.
struct FieldErrors: Sendable {
    var byField: [String: String] = [:]
    var general: String?

    init() {}

    init(_ error: PalisadeError, default field: String? = nil) {
        if case .object(let details)? = error.details, case .string(let named)? = details["field"] {
            byField[Self.formField(named)] = error.message
        } else if let field {
            byField[field] = error.message
        } else {
            general = error.message
        }
    }

    /// API field names that a form spells differently.
    static func formField(_ name: String) -> String {
        switch name {
        case "members": "devices"
        default: name
        }
    }
}

/// The group list (`groups.mustache`).
struct GroupListPage: PageModel {
    static let template = "groups"

    struct Row: Sendable {
        let id: String
        let name: String
        let description: String
        /// "static" or "dynamic".
        let kind: String
        let rule: String?
        let members: Int
        /// How many groups are nested in it.
        let nested: Int
    }

    var csrf = ""
    let groups: [Row]
    let empty: Bool
    let canManage: Bool
    let next: String?
}

/// A new group (`group-form.mustache`), empty or as a refused form sent it.
struct NewGroupPage: PageModel {
    static let template = "group-form"
    var csrf = ""
    let name: String
    let description: String
    let dynamic: Bool
    let membershipRule: String
    /// Refusals by form field (`{{errors.name}}`), and one for the whole form.
    let errors: [String: String]
    let general: String?
}

/// A group's page (`group.mustache`): the edit form, members, nested groups.
struct GroupPage: PageModel {
    static let template = "group"

    struct Group: Sendable {
        let id: String
        let name: String
        let description: String
        let memberCount: Int
    }

    /// What the edit form shows.
    struct Edit: Sendable {
        let name: String
        let description: String
        let membershipRule: String
    }

    struct Member: Sendable {
        let id: String
        let name: String
        let platform: String
        let canRemove: Bool
    }

    struct Nested: Sendable {
        let id: String
        let name: String
        let canRemove: Bool
    }

    struct Nestable: Sendable {
        let id: String
        let name: String
    }

    var csrf = ""
    let group: Group
    let isStatic: Bool
    let rule: String?
    let edit: Edit
    let members: [Member]
    let noMembers: Bool
    let moreMembers: String?
    let nested: [Nested]
    let hasNested: Bool
    let nestable: [Nestable]
    /// The add-members text as typed, after a refusal.
    let memberText: String
    let canManage: Bool
    let canSync: Bool
    let errors: [String: String]
    let general: String?
}

/// The new group form.
struct NewGroupForm: Decodable, Sendable {
    @FormText var name: String
    @FormText var description: String
    /// "static" or "dynamic".
    @FormText var kind: String
    @FormText var membershipRule: String

    var isDynamic: Bool { kind == "dynamic" }
}

/// A group's edit form. A name the form did not send leaves the name as it is.
struct GroupEditForm: Decodable, Sendable {
    private var sentName: String?
    @FormText var description: String
    @FormText var membershipRule: String

    var name: String? { sentName?.trimmingCharacters(in: .whitespacesAndNewlines) }

    enum CodingKeys: String, CodingKey {
        case sentName = "name", description, membershipRule
    }
}

/// A static group's add-members form: devices by name or id, and a group to nest.
struct GroupMembersForm: Decodable, Sendable {
    /// Names or ids, comma or line separated.
    @FormText var devices: String
    /// A group id, or empty for none (the select's first option).
    @FormText var nestedGroup: String
}

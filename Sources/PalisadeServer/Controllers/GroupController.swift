import Foundation
import Hummingbird
import PalisadeCore

/// Groups: `/api/v1/groups`: static, nested and dynamic groups, members, rule previews.
struct GroupController {
    typealias Context = AdminRequestContext
    let groups: GroupService
    let devices: DeviceService

    func addRoutes(to routes: AdminRoutes) {
        routes.post("groups", .manageGroups, use: create)
        routes.post("groups/preview", .readGroups, use: preview)
        routes.get("groups", .readGroups, use: list)
        routes.get("groups/:id", .readGroups, use: get)
        routes.put("groups/:id", .manageGroups, use: update)
        routes.delete("groups/:id", .manageGroups, use: delete)
        routes.get("groups/:id/members", .readGroups, use: listMembers)
        routes.post("groups/:id/members", .manageGroups, use: addMembers)
        routes.delete("groups/:id/members/:deviceId", .manageGroups, use: removeMember)
        routes.post("groups/:id/sync", .syncDevices, use: sync)
    }

    /// 202 with how many devices were asked (every device of the group, nested groups included).
    @Sendable func sync(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await devices.sync(tenant: context.tenant, by: context.actor, group: try context.parameters.require("id")),
                              status: .accepted)
    }

    struct CreateGroupBody: Decodable {
        var name: String
        var description: String?
        var members: [String]?
        var membershipRule: String?
        /// Groups nested in a static group.
        var groups: [String]?
    }

    struct PreviewBody: Decodable {
        var membershipRule: String
    }

    struct AddMembersBody: Decodable {
        var deviceIds: [String]?
        var groupIds: [String]?
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(CreateGroupBody.self, from: request, context: context)
        let group = try await groups.create(tenant: context.tenant, by: context.actor, name: body.name, description: body.description ?? "",
                                                members: body.members ?? [], membershipRule: body.membershipRule, nestedGroups: body.groups ?? [])
        return try JSONBody.response(group, status: .created)
    }

    struct UpdateGroupBody: Decodable {
        var name: String?
        var description: String?
        var membershipRule: String?
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        _ = try await groups.group(tenant: tenant, id: id)
        let body = try await JSONBody.decode(UpdateGroupBody.self, from: request, context: context)
        return try JSONBody.response(try await groups.update(tenant: tenant, by: context.actor, id: id, name: body.name, description: body.description, membershipRule: body.membershipRule))
    }

    @Sendable func preview(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(PreviewBody.self, from: request, context: context)
        return try JSONBody.response(try await groups.previewRule(tenant: context.tenant, rule: body.membershipRule))
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await groups.groups(tenant: context.tenant, limit: page.limit, after: page.cursor).response(named: "groups")
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await groups.group(tenant: context.tenant, id: try context.parameters.require("id")))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await groups.delete(tenant: context.tenant, by: context.actor, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func listMembers(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await groups.members(tenant: context.tenant, group: try context.parameters.require("id"), limit: page.limit, after: page.cursor).response(named: "devices")
    }

    @Sendable func addMembers(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(AddMembersBody.self, from: request, context: context)
        let group = try await groups.addMembers(tenant: context.tenant, by: context.actor, group: try context.parameters.require("id"),
                                               deviceIds: body.deviceIds ?? [], groupIds: body.groupIds ?? [])
        return try JSONBody.response(group)
    }

    @Sendable func removeMember(_ request: Request, context: Context) async throws -> Response {
        try await groups.removeMember(tenant: context.tenant, by: context.actor, group: try context.parameters.require("id"), deviceId: try context.parameters.require("deviceId"))
        return Response(status: .noContent)
    }
}

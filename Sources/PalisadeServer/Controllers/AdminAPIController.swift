import Foundation
import Hummingbird
import PalisadeCore

/// The admin REST API under `/api/v1` (docs/openapi.json). Handlers decode, call the store,
/// and encode; rules live in the store and the core.
struct AdminAPIController {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func addRoutes(to group: RouterGroup<Context>) {
        group.post("enrollment-tokens", use: createEnrollmentToken)
        group.get("enrollment-tokens", use: listEnrollmentTokens)
        group.delete("enrollment-tokens/:id", use: revokeEnrollmentToken)

        group.get("devices", use: listDevices)
        group.get("devices/:id", use: getDevice)
        group.delete("devices/:id", use: retireDevice)
        group.patch("devices/:id", use: updateDevice)
        group.get("devices/:id/settings", use: deviceSettings)
        group.get("devices/:id/effective", use: effectiveConfiguration)

        group.post("groups", use: createGroup)
        group.post("groups/preview", use: previewGroup)
        group.get("groups", use: listGroups)
        group.get("groups/:id", use: getGroup)
        group.put("groups/:id", use: updateGroup)
        group.delete("groups/:id", use: deleteGroup)
        group.get("groups/:id/members", use: listMembers)
        group.post("groups/:id/members", use: addMembers)
        group.delete("groups/:id/members/:deviceId", use: removeMember)

        group.get("settings/enforcement", use: getEnforcement)
        group.put("settings/enforcement", use: putEnforcement)
        group.get("settings/devices", use: getDeviceSettings)
        group.put("settings/devices", use: putDeviceSettings)

        group.post("policies", use: createPolicy)
        group.get("policies", use: listPolicies)
        group.get("policies/:id", use: getPolicy)
        group.put("policies/:id", use: updatePolicy)
        group.delete("policies/:id", use: deletePolicy)
        group.put("policies/:id/assignments", use: setAssignments)
        group.get("policies/:id/report", use: policyReport)
        group.post("policies/:id/preview", use: previewPolicy)
    }

    // MARK: Enrollment tokens

    struct CreateEnrollmentTokenBody: Decodable {
        var name: String
        var expiresInHours: Int
        var maxUses: Int?
    }

    struct CreatedEnrollmentTokenBody: Encodable {
        var id: String
        var name: String
        var token: String
        var expiresAt: Date
        var maxUses: Int?
    }

    @Sendable func createEnrollmentToken(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(CreateEnrollmentTokenBody.self, from: request, context: context)
        let created = try await store.createEnrollmentToken(tenant: try context.requireTenant(), name: body.name, expiresInHours: body.expiresInHours, maxUses: body.maxUses)
        return try JSONBody.response(CreatedEnrollmentTokenBody(id: created.record.id, name: created.record.name, token: created.token, expiresAt: created.record.expiresAt, maxUses: created.record.maxUses), status: .created)
    }

    @Sendable func listEnrollmentTokens(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await store.enrollmentTokens(tenant: try context.requireTenant(), limit: page.limit, after: page.cursor).response(named: "enrollmentTokens")
    }

    @Sendable func revokeEnrollmentToken(_ request: Request, context: Context) async throws -> Response {
        try await store.revokeEnrollmentToken(tenant: try context.requireTenant(), id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    // MARK: Devices

    @Sendable func listDevices(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await store.devices(tenant: try context.requireTenant(), limit: page.limit, after: page.cursor).response(named: "devices")
    }

    @Sendable func getDevice(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await store.device(tenant: try context.requireTenant(), id: try context.parameters.require("id")))
    }

    @Sendable func retireDevice(_ request: Request, context: Context) async throws -> Response {
        try await store.retireDevice(tenant: try context.requireTenant(), id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func updateDevice(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.requireTenant()
        let id = try context.parameters.require("id")
        _ = try await store.device(tenant: tenant, id: id)
        let body = try await JSONBody.decode(UpdateDeviceBody.self, from: request, context: context)
        guard let tags = body.tags else {
            return try JSONBody.response(try await store.device(tenant: tenant, id: id))
        }
        return try JSONBody.response(try await store.setTags(tenant: tenant, device: id, tags: tags))
    }

    @Sendable func effectiveConfiguration(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await store.provenance(tenant: try context.requireTenant(), device: try context.parameters.require("id")))
    }

    @Sendable func deviceSettings(_ request: Request, context: Context) async throws -> Response {
        let statuses = try await store.deviceSettings(tenant: try context.requireTenant(), device: try context.parameters.require("id"))
        return try JSONBody.response(statuses)
    }

    // MARK: Groups

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

    struct UpdateDeviceBody: Decodable {
        var tags: [String]?
    }

    struct AddMembersBody: Decodable {
        var deviceIds: [String]?
        var groupIds: [String]?
    }

    @Sendable func createGroup(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(CreateGroupBody.self, from: request, context: context)
        let group = try await store.createGroup(tenant: try context.requireTenant(), name: body.name, description: body.description ?? "",
                                                members: body.members ?? [], membershipRule: body.membershipRule, nestedGroups: body.groups ?? [])
        return try JSONBody.response(group, status: .created)
    }

    struct UpdateGroupBody: Decodable {
        var name: String?
        var description: String?
        var membershipRule: String?
    }

    @Sendable func updateGroup(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.requireTenant()
        let id = try context.parameters.require("id")
        _ = try await store.group(tenant: tenant, id: id)
        let body = try await JSONBody.decode(UpdateGroupBody.self, from: request, context: context)
        return try JSONBody.response(try await store.updateGroup(tenant: tenant, id: id, name: body.name, description: body.description, membershipRule: body.membershipRule))
    }

    @Sendable func previewGroup(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(PreviewBody.self, from: request, context: context)
        return try JSONBody.response(try await store.previewRule(tenant: try context.requireTenant(), rule: body.membershipRule))
    }

    @Sendable func listGroups(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await store.groups(tenant: try context.requireTenant(), limit: page.limit, after: page.cursor).response(named: "groups")
    }

    @Sendable func getGroup(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await store.group(tenant: try context.requireTenant(), id: try context.parameters.require("id")))
    }

    @Sendable func deleteGroup(_ request: Request, context: Context) async throws -> Response {
        try await store.deleteGroup(tenant: try context.requireTenant(), id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func listMembers(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await store.members(tenant: try context.requireTenant(), group: try context.parameters.require("id"), limit: page.limit, after: page.cursor).response(named: "devices")
    }

    @Sendable func addMembers(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(AddMembersBody.self, from: request, context: context)
        let group = try await store.addMembers(tenant: try context.requireTenant(), group: try context.parameters.require("id"),
                                               deviceIds: body.deviceIds ?? [], groupIds: body.groupIds ?? [])
        return try JSONBody.response(group)
    }

    @Sendable func removeMember(_ request: Request, context: Context) async throws -> Response {
        try await store.removeMember(tenant: try context.requireTenant(), group: try context.parameters.require("id"), deviceId: try context.parameters.require("deviceId"))
        return Response(status: .noContent)
    }

    // MARK: Tenant settings

    struct EnforcementBody: Codable {
        var platforms: [String: Bool]
        var scope: String
        var tag: String?
        var takeOver: [String: Bool]?

        init(_ scope: EnforcementScope) {
            platforms = Dictionary(uniqueKeysWithValues: DevicePlatform.allCases.map { ($0.rawValue, scope.platforms[$0] ?? false) })
            self.scope = scope.scope.rawValue
            tag = scope.tag
            takeOver = Dictionary(uniqueKeysWithValues: DevicePlatform.allCases.map { ($0.rawValue, scope.takeOver[$0] ?? false) })
        }

        func scopeValue() throws -> EnforcementScope {
            func platformMap(_ map: [String: Bool], field: String) throws -> [DevicePlatform: Bool] {
                var result: [DevicePlatform: Bool] = [:]
                for (name, enabled) in map {
                    guard let platform = DevicePlatform(rawValue: name) else {
                        throw PalisadeError.invalid("\(field).\(name): unknown platform (use \(DevicePlatform.allCases.map(\.rawValue).joined(separator: ", ")))", field: "\(field).\(name)")
                    }
                    result[platform] = enabled
                }
                return result
            }
            guard let reach = EnforcementScope.Reach(rawValue: scope) else {
                throw PalisadeError.invalid("scope must be \"all\" or \"tagged\", got \"\(scope)\"", field: "scope")
            }
            return EnforcementScope(platforms: try platformMap(platforms, field: "platforms"), scope: reach, tag: tag,
                                    takeOver: try platformMap(takeOver ?? [:], field: "takeOver"))
        }
    }

    @Sendable func getEnforcement(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(EnforcementBody(try await store.enforcement(tenant: try context.requireTenant())))
    }

    @Sendable func putEnforcement(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(EnforcementBody.self, from: request, context: context)
        return try JSONBody.response(EnforcementBody(try await store.setEnforcement(tenant: try context.requireTenant(), try body.scopeValue())))
    }

    @Sendable func getDeviceSettings(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await store.deviceSettings(tenant: try context.requireTenant()))
    }

    @Sendable func putDeviceSettings(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(DeviceSettings.self, from: request, context: context)
        return try JSONBody.response(try await store.setDeviceSettings(tenant: try context.requireTenant(), body))
    }

    // MARK: Policies

    struct PolicyBody: Decodable {
        var name: String
        var description: String?
        var platform: StrictEnum<PolicyPlatform>
        var template: StrictEnum<PolicyTemplate>
        var settings: [String: JSONValue]?

        var draft: PalisadeStore.PolicyDraft {
            .init(name: name, description: description ?? "", platform: platform.value, template: template.value, settings: settings ?? [:])
        }
    }

    struct AssignmentsBody: Decodable {
        var include: [String]?
        var exclude: [String]?
    }

    @Sendable func createPolicy(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(PolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await store.createPolicy(tenant: try context.requireTenant(), body.draft), status: .created)
    }

    @Sendable func listPolicies(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await store.policies(tenant: try context.requireTenant(), limit: page.limit, after: page.cursor).response(named: "policies")
    }

    @Sendable func getPolicy(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await store.policy(tenant: try context.requireTenant(), id: try context.parameters.require("id")))
    }

    @Sendable func updatePolicy(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.requireTenant()
        let id = try context.parameters.require("id")
        // An unknown policy answers 404 before the body is judged.
        _ = try await store.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(PolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await store.updatePolicy(tenant: tenant, id: id, body.draft))
    }

    @Sendable func deletePolicy(_ request: Request, context: Context) async throws -> Response {
        try await store.deletePolicy(tenant: try context.requireTenant(), id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func setAssignments(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.requireTenant()
        let id = try context.parameters.require("id")
        _ = try await store.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(AssignmentsBody.self, from: request, context: context)
        return try JSONBody.response(try await store.setAssignments(tenant: tenant, policy: id, include: body.include ?? [], exclude: body.exclude ?? []))
    }

    struct PreviewPolicyBody: Decodable {
        var settings: [String: JSONValue]?
        var assignments: AssignmentsBody?
    }

    @Sendable func previewPolicy(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.requireTenant()
        let id = try context.parameters.require("id")
        _ = try await store.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(PreviewPolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await store.previewPolicyChange(
            tenant: tenant, policy: id, settings: body.settings, include: body.assignments?.include, exclude: body.assignments?.exclude))
    }

    @Sendable func policyReport(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await store.policyReport(tenant: try context.requireTenant(), policy: try context.parameters.require("id")))
    }
}

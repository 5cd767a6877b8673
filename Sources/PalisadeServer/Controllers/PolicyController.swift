import Foundation
import Hummingbird
import PalisadeCore

/// Policies: `/api/v1/policies`: revisions of settings, assignments, reports, previews.
struct PolicyController {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func addRoutes(to group: RouterGroup<Context>) {
        group.post("policies", use: create)
        group.get("policies", use: list)
        group.get("policies/:id", use: get)
        group.put("policies/:id", use: update)
        group.delete("policies/:id", use: delete)
        group.put("policies/:id/assignments", use: setAssignments)
        group.get("policies/:id/report", use: report)
        group.post("policies/:id/preview", use: preview)
    }

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

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(PolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await store.createPolicy(tenant: try context.requireTenant(), body.draft), status: .created)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await store.policies(tenant: try context.requireTenant(), limit: page.limit, after: page.cursor).response(named: "policies")
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await store.policy(tenant: try context.requireTenant(), id: try context.parameters.require("id")))
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.requireTenant()
        let id = try context.parameters.require("id")
        // An unknown policy answers 404 before the body is judged.
        _ = try await store.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(PolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await store.updatePolicy(tenant: tenant, id: id, body.draft))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
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

    @Sendable func preview(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.requireTenant()
        let id = try context.parameters.require("id")
        _ = try await store.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(PreviewPolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await store.previewPolicyChange(
            tenant: tenant, policy: id, settings: body.settings, include: body.assignments?.include, exclude: body.assignments?.exclude))
    }

    @Sendable func report(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try JSONBody.response(try await store.policyReport(tenant: try context.requireTenant(), policy: try context.parameters.require("id"),
                                                                  limit: page.limit, after: page.cursor))
    }
}

import Foundation
import Hummingbird
import PalisadeCore

/// Policies: `/api/v1/policies`: revisions of settings, assignments, previews (reports: ReportController).
struct PolicyController {
    typealias Context = PalisadeRequestContext
    let store: PalisadeStore

    func addRoutes(to routes: AdminRoutes) {
        routes.post("policies", .managePolicies, use: create)
        routes.get("policies", .readPolicies, use: list)
        routes.get("policies/:id", .readPolicies, use: get)
        routes.put("policies/:id", .managePolicies, use: update)
        routes.delete("policies/:id", .managePolicies, use: delete)
        routes.put("policies/:id/assignments", .managePolicies, use: setAssignments)
        routes.post("policies/:id/preview", .readPolicies, use: preview)
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
        return try JSONBody.response(try await store.createPolicy(tenant: try context.requireTenant(), by: try context.actor(), body.draft), status: .created)
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
        return try JSONBody.response(try await store.updatePolicy(tenant: tenant, by: try context.actor(), id: id, body.draft))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await store.deletePolicy(tenant: try context.requireTenant(), by: try context.actor(), id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func setAssignments(_ request: Request, context: Context) async throws -> Response {
        let tenant = try context.requireTenant()
        let id = try context.parameters.require("id")
        _ = try await store.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(AssignmentsBody.self, from: request, context: context)
        return try JSONBody.response(try await store.setAssignments(tenant: tenant, by: try context.actor(), policy: id, include: body.include ?? [], exclude: body.exclude ?? []))
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
}

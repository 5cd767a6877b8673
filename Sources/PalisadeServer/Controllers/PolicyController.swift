import Foundation
import Hummingbird
import PalisadeCore

/// Policies: `/api/v1/policies`: revisions of settings, assignments, previews (reports: ReportController).
struct PolicyController {
    typealias Context = AdminRequestContext
    let policies: PolicyService

    func addRoutes(to routes: AdminRoutes) {
        routes.post("policies", .managePolicies, use: create)
        routes.get("policies", .readPolicies, use: list)
        routes.get("policies/:id", .readPolicies, use: get)
        routes.put("policies/:id", .managePolicies, use: update)
        routes.delete("policies/:id", .managePolicies, use: delete)
        routes.put("policies/:id/assignments", .managePolicies, use: setAssignments)
        routes.post("policies/:id/preview", .readPolicies, use: preview)
        routes.get("policies/:id/revisions", .readPolicies, use: revisions)
        routes.get("policies/:id/revisions/:revision", .readPolicies, use: revision)
        routes.get("policies/:id/revisions/:revision/diff", .readPolicies, use: diff)
        routes.post("policies/:id/rollback", .managePolicies, use: rollback)
        routes.post("policies/:id/rollback/preview", .readPolicies, use: previewRollback)
    }

    struct PolicyBody: Decodable {
        var name: String
        var description: String?
        var platform: StrictEnum<PolicyPlatform>
        var template: StrictEnum<PolicyTemplate>
        var settings: [String: JSONValue]?

        var draft: PolicyDraft {
            .init(name: name, description: description ?? "", platform: platform.value, template: template.value, settings: settings ?? [:])
        }
    }

    struct AssignmentsBody: Decodable {
        var include: [String]?
        var exclude: [String]?
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(PolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await policies.create(tenant: context.tenant, by: context.actor, body.draft), status: .created)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await policies.policies(tenant: context.tenant, limit: page.limit, after: page.cursor).response(named: "policies")
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await policies.policy(tenant: context.tenant, id: try context.parameters.require("id")))
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        // An unknown policy answers 404 before the body is judged.
        _ = try await policies.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(PolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await policies.update(tenant: tenant, by: context.actor, id: id, body.draft))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await policies.delete(tenant: context.tenant, by: context.actor, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func setAssignments(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        _ = try await policies.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(AssignmentsBody.self, from: request, context: context)
        return try JSONBody.response(try await policies.setAssignments(tenant: tenant, by: context.actor, policy: id, include: body.include ?? [], exclude: body.exclude ?? []))
    }

    struct PreviewPolicyBody: Decodable {
        var settings: [String: JSONValue]?
        var assignments: AssignmentsBody?
    }

    @Sendable func preview(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        _ = try await policies.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(PreviewPolicyBody.self, from: request, context: context)
        return try JSONBody.response(try await policies.preview(
            tenant: tenant, policy: id, settings: body.settings, include: body.assignments?.include, exclude: body.assignments?.exclude))
    }
    // MARK: Revisions

    @Sendable func revisions(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        return try await policies.revisions(tenant: context.tenant, policy: try context.parameters.require("id"), limit: page.limit, after: page.cursor)
            .response(named: "revisions")
    }

    @Sendable func revision(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await policies.revision(tenant: context.tenant, policy: try context.parameters.require("id"),
                                                             revision: try Self.revisionNumber(context.parameters.get("revision"), field: "revision")))
    }

    @Sendable func diff(_ request: Request, context: Context) async throws -> Response {
        let revision = try Self.revisionNumber(context.parameters.get("revision"), field: "revision")
        let against = try request.uri.queryParameters["against"].map { try Self.revisionNumber(String($0), field: "against") }
        return try JSONBody.response(try await policies.diff(tenant: context.tenant, policy: try context.parameters.require("id"),
                                                                        revision: revision, against: against))
    }

    struct RollbackBody: Decodable {
        var revision: Int
    }

    /// Rollback is previewed with `POST .../rollback/preview` (same body), which answers the
    /// impact preview and saves nothing.
    @Sendable func rollback(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        _ = try await policies.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(RollbackBody.self, from: request, context: context)
        let revision = try Self.revisionNumber(String(body.revision), field: "revision")
        return try JSONBody.response(try await policies.rollback(tenant: tenant, by: context.actor, policy: id, to: revision))
    }

    @Sendable func previewRollback(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        _ = try await policies.policy(tenant: tenant, id: id)
        let body = try await JSONBody.decode(RollbackBody.self, from: request, context: context)
        let revision = try Self.revisionNumber(String(body.revision), field: "revision")
        return try JSONBody.response(try await policies.previewRollback(tenant: tenant, policy: id, to: revision))
    }

    /// A revision number: a whole number from 1.
    static func revisionNumber(_ text: String?, field: String) throws -> Int {
        guard let text, let value = Int(text), value >= 1 else {
            throw PalisadeError.invalid("\(field) must be a revision number (a whole number from 1), got \"\(text ?? "")\"", field: field)
        }
        return value
    }
}

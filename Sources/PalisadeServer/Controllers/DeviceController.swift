import Foundation
import Hummingbird
import PalisadeCore

/// Devices: `/api/v1/devices`: listing, tags, retirement, and why a device has its values.
struct DeviceController {
    typealias Context = AdminRequestContext
    let devices: DeviceService

    func addRoutes(to routes: AdminRoutes) {
        routes.get("devices", .readDevices, use: list)
        routes.get("devices/:id", .readDevices, use: get)
        routes.delete("devices/:id", .retireDevices, use: retire)
        routes.patch("devices/:id", .manageDeviceTags, use: update)
        routes.get("devices/:id/settings", .readReports, use: settings)
        routes.get("devices/:id/effective", .readDevices, use: effectiveConfiguration)
        routes.post("devices/:id/approve-reenrollment", .approveReenrollment, use: approveReenrollment)
        routes.post("devices/:id/sync", .syncDevices, use: sync)
    }

    /// 202: the device is asked; its report follows when it checks in (at once if online).
    @Sendable func sync(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await devices.sync(tenant: context.tenant, by: context.actor, device: try context.parameters.require("id")),
                              status: .accepted)
    }

    @Sendable func approveReenrollment(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await devices.approveReenrollment(tenant: context.tenant, by: context.actor, device: try context.parameters.require("id")))
    }

    struct UpdateDeviceBody: Decodable {
        var tags: [String]?
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let page = try PageRequest(request)
        var filter = DeviceFilter(search: try ReportQuery.text(request, "search"), state: try ReportQuery.state(request),
                                  tag: try ReportQuery.text(request, "tag"), group: try ReportQuery.text(request, "group"))
        if let platform = request.uri.queryParameters["platform"] {
            guard let value = DevicePlatform(rawValue: String(platform)) else {
                let allowed = DevicePlatform.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                throw PalisadeError.invalid("platform must be one of \(allowed), got \"\(platform)\"", field: "platform")
            }
            filter.platform = value
        }
        return try await devices.devices(tenant: context.tenant, filter: filter, limit: page.limit, after: page.cursor).response(named: "devices")
    }

    @Sendable func get(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await devices.device(tenant: context.tenant, id: try context.parameters.require("id")))
    }

    @Sendable func retire(_ request: Request, context: Context) async throws -> Response {
        try await devices.retire(tenant: context.tenant, by: context.actor, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.tenant
        let id = try context.parameters.require("id")
        _ = try await devices.device(tenant: tenant, id: id)
        let body = try await JSONBody.decode(UpdateDeviceBody.self, from: request, context: context)
        guard let tags = body.tags else {
            return try JSONBody.response(try await devices.device(tenant: tenant, id: id))
        }
        return try JSONBody.response(try await devices.setTags(tenant: tenant, by: context.actor, device: id, tags: tags))
    }

    @Sendable func effectiveConfiguration(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await devices.provenance(tenant: context.tenant, device: try context.parameters.require("id")))
    }

    @Sendable func settings(_ request: Request, context: Context) async throws -> Response {
        let statuses = try await devices.settingStatuses(tenant: context.tenant, device: try context.parameters.require("id"))
        return try JSONBody.response(statuses)
    }
}

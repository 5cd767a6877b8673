import Foundation
import Hummingbird
import PalisadeCore

/// Tenant settings: `/api/v1/settings/enforcement` (scope) and `/api/v1/settings/devices`.
struct TenantSettingsController {
    typealias Context = AdminRequestContext
    let settings: TenantSettingsService

    func addRoutes(to routes: AdminRoutes) {
        routes.get("settings/enforcement", .readSettings, use: getEnforcement)
        routes.put("settings/enforcement", .manageSettings, use: putEnforcement)
        routes.get("settings/devices", .readSettings, use: getDeviceSettings)
        routes.put("settings/devices", .manageSettings, use: putDeviceSettings)
    }

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
        try JSONBody.response(EnforcementBody(try await settings.enforcement(tenant: context.tenant)))
    }

    @Sendable func putEnforcement(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(EnforcementBody.self, from: request, context: context)
        return try JSONBody.response(EnforcementBody(try await settings.setEnforcement(tenant: context.tenant, by: context.actor, try body.scopeValue())))
    }

    @Sendable func getDeviceSettings(_ request: Request, context: Context) async throws -> Response {
        try JSONBody.response(try await settings.deviceSettings(tenant: context.tenant))
    }

    @Sendable func putDeviceSettings(_ request: Request, context: Context) async throws -> Response {
        let body = try await JSONBody.decode(DeviceSettings.self, from: request, context: context)
        return try JSONBody.response(try await settings.setDeviceSettings(tenant: context.tenant, by: context.actor, body))
    }
}

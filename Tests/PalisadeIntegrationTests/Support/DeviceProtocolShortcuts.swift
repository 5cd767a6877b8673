import Foundation
import Testing
import PalisadeCore
@testable import PalisadeServer

/// The device protocol's service calls as tests make them: by device id alone, the tenant
/// looked up from the device's credentials (the server knows it from the device's proof).
extension PalisadeStore {
    var deviceProtocol: DeviceProtocolService { DeviceProtocolService(store: self) }

    func deviceCredentials(deviceId: String) async throws -> DeviceCredentials? {
        try await deviceProtocol.credentials(deviceId: deviceId)
    }

    private func tenant(ofDevice deviceId: String) async throws -> String? {
        try await deviceCredentials(deviceId: deviceId)?.tenantId
    }

    func configurationHash(deviceId: String) async throws -> String? {
        guard let tenant = try await tenant(ofDevice: deviceId) else { return nil }
        return try await deviceProtocol.configurationHash(deviceId: deviceId, tenant: tenant)
    }

    func effectiveConfiguration(deviceId: String) async throws -> EffectiveConfiguration? {
        guard let tenant = try await tenant(ofDevice: deviceId) else { return nil }
        return try await read { sql in try await Self.effectiveConfiguration(deviceId: deviceId, tenant: tenant, on: sql) }
    }

    func recordReport(deviceId: String, tenant: String, report: DeviceProtocol.StatusReport) async throws -> ReportOutcome {
        try await deviceProtocol.recordReport(deviceId: deviceId, tenant: tenant, report: report)
    }

    func checkInState(deviceId: String, deviceHash: String?) async throws -> CheckInState {
        try await deviceProtocol.checkInState(deviceId: deviceId, tenant: try #require(try await tenant(ofDevice: deviceId)), deviceHash: deviceHash)
    }

    func recordSyncDelivered(deviceId: String) async throws {
        try await deviceProtocol.recordSyncDelivered(deviceId: deviceId, tenant: try #require(try await tenant(ofDevice: deviceId)))
    }
}

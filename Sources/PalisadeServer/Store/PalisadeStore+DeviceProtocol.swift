import Foundation
import PalisadeCore
import PalisadeIdentity
import SQLKit

/// What the server needs to verify a device's assertion.
public struct DeviceCredentials: Sendable {
    public var deviceId: String
    public var tenantId: String
    public var publicKeyPEM: String
    /// A key waiting for an administrator's approval (a re-enrollment).
    public var pendingPublicKeyPEM: String?
    public var status: EnrollmentStatus
}

/// What became of a status report (`recordReport`).
public enum ReportOutcome: Sendable, Equatable {
    /// About the device's current configuration: stored, or stored already (idempotent).
    case stored
    /// About another configuration than the device's current one (`current`; nil when the
    /// device has none): it settles nothing, and the agent must check in to get the current one.
    case outdated(current: String?)
}

/// The configuration the server holds for a device: its hash, and the document when asked.
public struct StoredConfiguration: Sendable {
    public var hash: String
    public var deliveredHash: String?
}

extension PalisadeStore {
    /// The device's effective configuration as stored (reports and the device's pages).
    static func effectiveConfiguration(deviceId: String, tenant: String, on sql: any SQLDatabase) async throws -> EffectiveConfiguration? {
        try await DeviceProtocolRepository.effectiveDocument(deviceId: deviceId, tenant: tenant, on: sql)
            .map { try JSONDecoder().decode(EffectiveConfiguration.self, from: Data($0.utf8)) }
    }

    static func deviceReport(deviceId: String, tenant: String, on sql: any SQLDatabase) async throws -> (DeviceReport, Date?) {
        guard let row = try await sql.raw("""
            SELECT configuration_hash, results, reported_at FROM device_reports WHERE \(unsafeRaw: sql.tenantColumnBesideKeys) = \(bind: tenant) AND device_id = \(bind: deviceId)
            """).first() else {
            return (.none, nil)
        }
        return (DeviceReport(configurationHash: try row.string("configuration_hash"), results: try row.json("results", as: [String: DeviceProtocol.SettingResult].self)),
                Timestamp.date(try row.millis("reported_at")) as Date?)
    }
}

import Foundation
import PalisadeCore
import SQLKit

extension PalisadeStore {
    /// A retired device keeps its hardware id in `original_hardware_id`: `hardware_id` then
    /// holds a tombstone, so that the same hardware enrolling again gets a new record.
    static let deviceColumns = """
        id, name, platform, os_version, COALESCE(original_hardware_id, hardware_id) AS hardware_id, agent_version, managed_by, mdm_enrolled,
        defender_installed, defender, enrollment_status, enrolled_at, last_check_in_at, tags, agent_tags, pending_public_key, pending_since, pending_source,
        sync_requested_at
        """

    /// What the agent last read from Defender (`defender`), and the older yes/no column.
    static func defenderColumns(_ row: any SQLRow) throws -> (DefenderStatus?, Bool?) {
        let defender = try row.optionalString("defender").map { try JSONDecoder().decode(DefenderStatus.self, from: Data($0.utf8)) }
        return (defender, try row.optionalInt("defender_installed").map { $0 != 0 })
    }

    static func defenderSummary(_ status: DefenderStatus?, installed: Bool?) -> String? {
        status?.summary ?? (installed == false ? "Defender not installed" : nil)
    }

    static func device(_ row: any SQLRow) throws -> Device {
        func enumValue<E: RawRepresentable>(_ column: String, _ type: E.Type) throws -> E where E.RawValue == String {
            let raw = try row.string(column)
            guard let value = E(rawValue: raw) else { throw StoreError.corrupt("\(column) = \(raw)") }
            return value
        }
        let (defender, defenderInstalled) = try defenderColumns(row)
        return Device(
            id: try row.string("id"), name: try row.string("name"),
            platform: try enumValue("platform", DevicePlatform.self),
            osVersion: try row.string("os_version"), hardwareId: try row.string("hardware_id"),
            agentVersion: try row.string("agent_version"),
            managedBy: try enumValue("managed_by", ManagementChannel.self),
            mdmEnrolled: try row.int("mdm_enrolled") != 0,
            defenderInstalled: defenderInstalled,
            defender: defender, defenderSummary: defenderSummary(defender, installed: defenderInstalled),
            enrollmentStatus: try enumValue("enrollment_status", EnrollmentStatus.self),
            enrolledAt: Timestamp.date(try row.millis("enrolled_at")),
            lastCheckInAt: Timestamp.optionalDate(try row.optionalMillis("last_check_in_at")),
            tags: try row.json("tags", as: [String].self),
            agentTags: try row.json("agent_tags", as: [String].self),
            pendingReenrollment: try row.optionalString("pending_public_key").map { key in
                PendingReenrollment(since: Timestamp.date(try row.millis("pending_since")), sourceAddress: try row.optionalString("pending_source"),
                                    publicKeySHA256: Digest.sha256Hex(Data(key.utf8)))
            },
            management: nil, stale: nil, syncRequestedAt: Timestamp.optionalDate(try row.optionalMillis("sync_requested_at")))
    }

    public func devices(tenant: String, limit: Int, after cursor: String?) async throws -> Page<Device> {
        try await devices(tenant: tenant, filter: DeviceFilter(), limit: limit, after: cursor)
    }

    public func device(tenant: String, id: String) async throws -> Device {
        try await readSnapshot { sql in
            var device = try await Self.device(tenant: tenant, id: id, on: sql)
            device.reportState = try await sql.raw("SELECT report_state FROM devices WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first().flatMap { SettingState(rawValue: try $0.string("report_state")) }
            return try await Self.withManagementState([device], tenant: tenant, now: clock.now, on: sql)[0]
        }
    }

    /// Fills in whether each device is managed under the tenant's scope, and whether it is stale.
    static func withManagementState(_ devices: [Device], tenant: String, now: Date, on sql: any SQLDatabase) async throws -> [Device] {
        let (scope, settings) = try await TenantSettingsRepository.settings(tenant: tenant, on: sql)
        let staleBefore = now.addingTimeInterval(-Double(settings.staleAfterDays) * 86_400)
        return devices.map { device in
            var device = device
            if device.enrollmentStatus == .retired {
                device.management = ManagementState(state: .excluded, reason: "retired by an administrator")
            } else {
                switch scope.decision(platform: device.platform, tags: device.tags, managedBy: device.managedBy) {
                case .managed: device.management = ManagementState(state: .managed, reason: nil)
                case .excluded(let reason): device.management = ManagementState(state: .excluded, reason: reason)
                }
            }
            device.stale = (device.lastCheckInAt ?? device.enrolledAt) < staleBefore
            return device
        }
    }

    static func device(tenant: String, id: String, on sql: any SQLDatabase) async throws -> Device {
        guard let row = try await sql.raw("SELECT \(unsafeRaw: deviceColumns) FROM devices WHERE tenant_id = \(bind: tenant) AND id = \(bind: id)").first() else {
            throw DomainError.notFound("device", id: id)
        }
        return try device(row)
    }
}

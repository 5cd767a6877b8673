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

    // MARK: Enrollment

    /// Enrolls a device with an enrollment token. The same hardware id in the same tenant
    /// reuses its device record (and so keeps its memberships) only when the request proves it
    /// is the same device (the same key, or `provenBy`: signed with the device's current key)
    /// or the token was made for re-imaging (`allowReenrollment`). Otherwise the new key waits
    /// for an administrator's approval and the enrolled device keeps working: holding an
    /// enrollment token is not enough to take over a device. A retired device is never
    /// revived: its hardware enrolling again gets a new record.
    public func enroll(_ request: DeviceProtocol.EnrollRequest, sourceAddress: String? = nil, provenBy: String? = nil) async throws -> DeviceProtocol.EnrollResponse {
        let tokenHash = Digest.sha256Hex(Data(request.enrollmentToken.utf8))
        let tokenTenant = try await read { sql in
            try await sql.raw("SELECT tenant_id FROM enrollment_tokens WHERE token_hash = \(bind: tokenHash)").first()?.string("tenant_id")
        }
        guard let tenant = tokenTenant else {
            throw DomainError(.unauthenticated, code: .enrollmentTokenInvalid, message: "the enrollment token is not known to this server")
        }
        let inventory = request.inventory
        return try await directory.write(tenant: tenant) { sql, directory in
            // Re-read inside the transaction: uses and revocation may have changed meanwhile.
            guard let token = try await sql.raw("""
                SELECT \(unsafeRaw: EnrollmentTokenRepository.columns) FROM enrollment_tokens
                WHERE token_hash = \(bind: tokenHash)
                """).first().map(EnrollmentTokenRepository.token) else {
                throw DomainError(.unauthenticated, code: .enrollmentTokenInvalid, message: "the enrollment token is not known to this server")
            }
            if token.revokedAt != nil {
                throw DomainError(.unauthenticated, code: .enrollmentTokenInvalid, message: "the enrollment token \"\(token.name)\" was revoked")
            }
            if token.expiresAt < clock.now {
                throw DomainError(.unauthenticated, code: .enrollmentTokenExpired, message: "the enrollment token \"\(token.name)\" expired at \(token.expiresAt.ISO8601Format())")
            }
            let now = clock.nowMillis
            let managedBy = inventory.managementChannel
            let defenderInstalled: Int? = (inventory.defender?.installed ?? inventory.defenderInstalled).map { $0 ? 1 : 0 }
            let defender: String? = try inventory.defender.map { try encodeJSON($0) }
            let agentTags = try encodeJSON(inventory.tags ?? [])
            let keyDigest = Digest.sha256Hex(Data(request.publicKey.utf8))
            let actor = AuditActor(type: .device, id: "", name: inventory.hostname, sourceAddress: sourceAddress)
            let attempt: [String: JSONValue] = [
                "hostname": .string(inventory.hostname), "platform": .string(inventory.platform.rawValue), "hardwareId": .string(inventory.hardwareId),
                "enrollmentToken": .object(["id": .string(token.id), "name": .string(token.name)]), "publicKeySHA256": .string(keyDigest),
            ]
            let existing = try await sql.raw("""
                SELECT id, public_key FROM devices WHERE tenant_id = \(bind: tenant) AND hardware_id = \(bind: inventory.hardwareId)
                """).first()
            // The same hardware id with the same key is the device asking again (an agent whose
            // answer was lost on the way retries): not a new use of the token, even its last.
            let repeatsEnrollment = try existing?.string("public_key") == request.publicKey
            if !repeatsEnrollment {
                if let maxUses = token.maxUses, token.uses >= maxUses {
                    throw DomainError(.unauthenticated, code: .enrollmentTokenExhausted, message: "the enrollment token \"\(token.name)\" has been used \(token.uses) of \(maxUses) times")
                }
                try await sql.raw("UPDATE enrollment_tokens SET uses = uses + 1 WHERE tenant_id = \(bind: tenant) AND id = \(bind: token.id)").run()
            }
            if let existing {
                let deviceId = try existing.string("id")
                let reason: String
                if repeatsEnrollment {
                    reason = "the same device key"
                } else if provenBy == deviceId {
                    reason = "a request signed with the device's current key"
                } else if token.allowReenrollment {
                    reason = "an enrollment token that allows re-enrollment"
                } else {
                    try await sql.raw("""
                        UPDATE devices SET pending_public_key = \(bind: request.publicKey), pending_since = \(bind: now), pending_source = \(bind: sourceAddress)
                        WHERE id = \(bind: deviceId)
                        """).run()
                    directory.deviceRecordChanged(deviceId)
                    var pending = actor
                    pending.id = deviceId
                    try await Self.audit(.deviceReenrollmentPending, by: pending, tenant: tenant, target: ("device", deviceId, inventory.hostname),
                                         new: attempt, at: now, on: sql)
                    return DeviceProtocol.EnrollResponse(deviceId: deviceId, tenantId: tenant, reenrolled: false, pendingApproval: true)
                }
                try await sql.raw("""
                    UPDATE devices SET name = \(bind: inventory.hostname), platform = \(bind: inventory.platform.rawValue),
                        os_version = \(bind: inventory.osVersion), agent_version = \(bind: inventory.agentVersion),
                        managed_by = \(bind: managedBy.rawValue), mdm_enrolled = \(bind: inventory.mdmEnrolled ? 1 : 0),
                        defender_installed = \(bind: defenderInstalled), defender = \(bind: defender), public_key = \(bind: request.publicKey), enrolled_at = \(bind: now),
                        agent_tags = \(bind: agentTags), pending_public_key = NULL, pending_since = NULL, pending_source = NULL
                    WHERE id = \(bind: deviceId)
                    """).run()
                directory.deviceChanged(deviceId)
                var reenrolled = actor
                reenrolled.id = deviceId
                var value = attempt
                value["acceptedBecause"] = .string(reason)
                try await Self.audit(.deviceReenroll, by: reenrolled, tenant: tenant, target: ("device", deviceId, inventory.hostname), new: value, at: now, on: sql)
                return DeviceProtocol.EnrollResponse(deviceId: deviceId, tenantId: tenant, reenrolled: true)
            }
            let deviceId = Identifier.make()
            try await sql.raw("""
                INSERT INTO devices (id, tenant_id, name, platform, os_version, hardware_id, agent_version, managed_by,
                    mdm_enrolled, defender_installed, defender, enrollment_status, public_key, tags, agent_tags, enrolled_at, last_check_in_at, retired_at)
                VALUES (\(bind: deviceId), \(bind: tenant), \(bind: inventory.hostname), \(bind: inventory.platform.rawValue),
                    \(bind: inventory.osVersion), \(bind: inventory.hardwareId), \(bind: inventory.agentVersion), \(bind: managedBy.rawValue),
                    \(bind: inventory.mdmEnrolled ? 1 : 0), \(bind: defenderInstalled), \(bind: defender), 'enrolled', \(bind: request.publicKey), '[]',
                    \(bind: agentTags), \(bind: now), NULL, NULL)
                """).run()
            directory.deviceChanged(deviceId)
            var enrolled = actor
            enrolled.id = deviceId
            try await Self.audit(.deviceEnroll, by: enrolled, tenant: tenant, target: ("device", deviceId, inventory.hostname), new: attempt, at: now, on: sql)
            return DeviceProtocol.EnrollResponse(deviceId: deviceId, tenantId: tenant, reenrolled: false)
        }
    }
}

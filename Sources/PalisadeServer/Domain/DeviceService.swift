import Foundation
import PalisadeCore

/// Devices as admins manage them: tags, retirement, approving a re-enrolled key, sync now, and
/// the reads behind the device list and page. Enrollment itself is the device protocol's
/// (`PalisadeStore.enroll`). Changes go through the tenant's directory and are audited there.
public struct DeviceService: Sendable {
    let store: PalisadeStore

    public init(store: PalisadeStore) {
        self.store = store
    }

    // MARK: Reads

    public func devices(tenant: String, filter: DeviceFilter = DeviceFilter(), limit: Int, after cursor: String?) async throws -> Page<Device> {
        try await store.devices(tenant: tenant, filter: filter, limit: limit, after: cursor)
    }

    public func device(tenant: String, id: String) async throws -> Device {
        try await store.device(tenant: tenant, id: id)
    }

    /// Where each of the device's values comes from.
    public func provenance(tenant: String, device id: String) async throws -> DeviceProvenance {
        try await store.provenance(tenant: tenant, device: id)
    }

    /// The state of each setting the device last reported.
    public func settingStatuses(tenant: String, device id: String) async throws -> [SettingStatus] {
        try await store.deviceSettings(tenant: tenant, device: id)
    }

    public func history(tenant: String, device id: String, limit: Int = 100, after cursor: String? = nil) async throws -> Page<DeviceHistoryEvent> {
        try await store.deviceHistory(tenant: tenant, device: id, limit: limit, after: cursor)
    }

    public func driftEvents(tenant: String, device id: String?, limit: Int = 100, after cursor: String? = nil) async throws -> Page<DriftEventRecord> {
        try await store.driftEvents(tenant: tenant, device: id, limit: limit, after: cursor)
    }

    /// Device ids for what an admin typed: ids as they are, names looked up (a name two devices
    /// share is refused, naming both).
    public func resolve(tenant: String, namesOrIds entries: [String], field: String) async throws -> [String] {
        guard !entries.isEmpty else { return [] }
        let found = try await store.readSnapshot { sql in try await DeviceRepository.idsAndNames(matching: entries, tenant: tenant, on: sql) }
        var ids: [String] = []
        var unknown: [String] = []
        for entry in entries {
            if found.contains(where: { $0.id == entry }) { ids.append(entry); continue }
            let named = found.filter { $0.name == entry }
            switch named.count {
            case 0: unknown.append(entry)
            case 1: ids.append(named[0].id)
            default:
                throw DomainError.invalid("\(field): the name \"\(entry)\" is shared by devices \(named.map(\.id).joined(separator: ", ")); give the id", field: field)
            }
        }
        guard unknown.isEmpty else {
            throw DomainError(.invalidInput, code: .unknownDevice, message: "\(field): no such device: \(unknown.joined(separator: ", "))",
                              details: .object(["field": .string(field), "unknown": .array(unknown.map(JSONValue.string))]))
        }
        return ids
    }

    // MARK: Changes

    /// Retires a device: its agent is refused from then on and it receives nothing. Its group
    /// memberships are kept, so re-enrolling the same hardware restores its assignments.
    public func retire(tenant: String, by actor: AuditActor, id: String) async throws {
        let now = store.clock.nowMillis
        try await store.directory.write(tenant: tenant) { sql, directory in
            let old = try await PalisadeStore.device(tenant: tenant, id: id, on: sql)
            try await DeviceRepository.retire(id: id, tenant: tenant, at: now, on: sql)
            directory.deviceChanged(id)
            var new = old
            new.enrollmentStatus = .retired
            try await PalisadeStore.audit(.deviceRetire, by: actor, tenant: tenant, target: ("device", id, old.name), old: old, new: new, at: now, on: sql)
        }
    }

    /// Sets the admin tags of a device; its dynamic memberships follow at once.
    public func setTags(tenant: String, by actor: AuditActor, device id: String, tags: [String]) async throws -> Device {
        let tags = try InputRules.tags(tags, field: "tags")
        let now = store.clock.nowMillis
        return try await store.directory.write(tenant: tenant) { sql, directory in
            let device = try await PalisadeStore.device(tenant: tenant, id: id, on: sql)
            try await DeviceRepository.setTags(tags, id: id, tenant: tenant, on: sql)
            directory.deviceChanged(id)
            var updated = device
            updated.tags = tags
            try await PalisadeStore.audit(.deviceTags, by: actor, tenant: tenant, target: ("device", id, device.name),
                                          old: ["tags": device.tags], new: ["tags": tags], at: now, on: sql)
            return updated
        }
    }

    /// Lets the key of a pending re-enrollment replace the device's key: from then on the new
    /// agent is the device, and the old key is refused.
    public func approveReenrollment(tenant: String, by actor: AuditActor, device id: String) async throws -> Device {
        let now = store.clock.nowMillis
        return try await store.directory.write(tenant: tenant) { sql, directory in
            let device = try await PalisadeStore.device(tenant: tenant, id: id, on: sql)
            guard let pending = device.pendingReenrollment else {
                throw DomainError(.conflict, code: .noPendingReenrollment, message: "device \(id) has no re-enrollment waiting for approval")
            }
            try await DeviceRepository.approvePendingKey(id: id, tenant: tenant, on: sql)
            directory.deviceChanged(id)
            try await PalisadeStore.audit(.deviceReenrollmentApproved, by: actor, tenant: tenant, target: ("device", id, device.name),
                                          old: ["pendingReenrollment": pending], new: ["publicKeySHA256": pending.publicKeySHA256], at: now, on: sql)
            var approved = device
            approved.pendingReenrollment = nil
            return approved
        }
    }

    /// Asks the device to check in and report at once.
    public func sync(tenant: String, by actor: AuditActor, device id: String) async throws -> SyncRequest {
        try await store.requestSync(tenant: tenant, by: actor, device: id)
    }

    /// Asks every device of a group (nested groups included; not retired ones) to check in and
    /// report at once.
    public func sync(tenant: String, by actor: AuditActor, group id: String) async throws -> SyncRequest {
        try await store.requestSync(tenant: tenant, by: actor, group: id)
    }
}

import Foundation
import PalisadeCore
import SQLKit

/// A managed value an agent found changed behind its back and put back.
public struct DriftEventRecord: Codable, Sendable, Hashable {
    public var id: String
    public var deviceId: String
    public var deviceName: String
    /// The setting, or `(file)` when the file changed without any managed value differing.
    public var settingId: String
    /// What the agent found; absent when the value was missing.
    public var found: JSONValue?
    /// What the agent put back; absent when the setting was no longer managed.
    public var restored: JSONValue?
    public var detail: String?
    public var detectedAt: Date
    public var receivedAt: Date
}

extension PalisadeStore {
    /// The tenant's drift events, newest first (optionally one device's), one page after `cursor`.
    public func driftEvents(tenant: String, device: String? = nil, limit: Int = 100, after cursor: String? = nil) async throws -> Page<DriftEventRecord> {
        let position = try cursor.map(DriftCursor.init(encoded:))
        return try await readSnapshot { sql in
            if let device { _ = try await Self.device(tenant: tenant, id: device, on: sql) }
            var query = SQLQueryString("""
                SELECT e.id, e.device_id, d.name, e.setting_id, e.found_value, e.restored_value, e.detail, e.detected_at, e.received_at
                FROM device_drift_events e JOIN devices d ON d.id = e.device_id
                WHERE e.tenant_id = \(bind: tenant)
                """)
            if let device { query.appendInterpolation(unsafeRaw: " AND e.device_id = "); query.appendInterpolation(bind: device) }
            if let position {
                query.appendInterpolation(unsafeRaw: " AND (e.detected_at < ")
                query.appendInterpolation(bind: position.detectedAt)
                query.appendInterpolation(unsafeRaw: " OR (e.detected_at = ")
                query.appendInterpolation(bind: position.detectedAt)
                query.appendInterpolation(unsafeRaw: " AND (e.device_id < ")
                query.appendInterpolation(bind: position.deviceId)
                query.appendInterpolation(unsafeRaw: " OR (e.device_id = ")
                query.appendInterpolation(bind: position.deviceId)
                query.appendInterpolation(unsafeRaw: " AND e.id < ")
                query.appendInterpolation(bind: position.id)
                query.appendInterpolation(unsafeRaw: "))))")
            }
            query.appendInterpolation(unsafeRaw: " ORDER BY e.detected_at DESC, e.device_id DESC, e.id DESC LIMIT ")
            query.appendInterpolation(bind: limit + 1)
            let rows = try await sql.raw(query).all()
            let events = try rows.map { row in
                DriftEventRecord(
                    id: try row.string("id"), deviceId: try row.string("device_id"), deviceName: try row.string("name"),
                    settingId: try row.string("setting_id"),
                    found: try row.optionalString("found_value").map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) },
                    restored: try row.optionalString("restored_value").map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) },
                    detail: try row.optionalString("detail"),
                    detectedAt: Timestamp.date(try row.millis("detected_at")), receivedAt: Timestamp.date(try row.millis("received_at")))
            }
            let items = Array(events.prefix(limit))
            let next = events.count > limit ? items.last.map { DriftCursor(detectedAt: Int64(($0.detectedAt.timeIntervalSince1970 * 1000).rounded()), deviceId: $0.deviceId, id: $0.id).encoded } : nil
            return Page(items: items, nextCursor: next)
        }
    }
}

/// Where a page of drift events (newest first) continues: after this event.
struct DriftCursor: Sendable, Hashable {
    var detectedAt: Int64
    var deviceId: String
    var id: String

    init(detectedAt: Int64, deviceId: String, id: String) {
        self.detectedAt = detectedAt
        self.deviceId = deviceId
        self.id = id
    }

    init(encoded: String) throws {
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let parts = try? JSONDecoder().decode([String].self, from: data), parts.count == 3,
              let millis = Int64(parts[0]) else {
            throw DomainError.unknownCursor
        }
        detectedAt = millis
        deviceId = parts[1]
        id = parts[2]
    }

    var encoded: String {
        let data = (try? JSONEncoder().encode([String(detectedAt), deviceId, id])) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

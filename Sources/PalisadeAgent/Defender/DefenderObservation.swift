import Foundation
import PalisadeCore

/// One reading of Defender on the device: its status for the server, and the effective values
/// Defender reported (by the field names of its own tool), which the agent compares with what
/// the policy set.
public struct DefenderObservation: Codable, Sendable, Hashable {
    public var status: DefenderStatus
    /// Defender's own fields, e.g. `real_time_protection_enabled` (mdatp) or
    /// `RealTimeProtectionEnabled` (Get-MpComputerStatus), unwrapped to plain values.
    public var fields: [String: JSONValue]
    /// Where they came from, for messages: `mdatp health` or `Get-MpComputerStatus`.
    public var source: String

    public init(status: DefenderStatus, fields: [String: JSONValue] = [:], source: String) {
        self.status = status
        self.fields = fields
        self.source = source
    }

    public static func notInstalled(_ detail: String, source: String) -> DefenderObservation {
        DefenderObservation(status: DefenderStatus(installed: false, detail: detail), source: source)
    }
}

/// Parses `mdatp health --output json` (Linux and macOS). Field names are those Microsoft
/// documents for `mdatp health` ("Investigate agent health issues"); recent versions wrap some
/// values as `{"value": ..., "scope": ...}`, so both plain and wrapped values are read.
public enum MdatpHealthParser {
    public static func parse(_ data: Data, now: Date) -> DefenderObservation? {
        guard let document = try? JSONDecoder().decode(JSONValue.self, from: data), case .object(let raw) = document else { return nil }
        var fields: [String: JSONValue] = [:]
        for (key, value) in raw {
            if case .object(let wrapped) = value, let inner = wrapped["value"] { fields[key] = inner } else { fields[key] = value }
        }
        func string(_ key: String) -> String? {
            switch fields[key] {
            case .string(let text)?: text.isEmpty ? nil : text
            case .integer(let number)?: String(number)
            default: nil
            }
        }
        func bool(_ key: String) -> Bool? {
            switch fields[key] {
            case .bool(let value)?: value
            case .string(let text)?: ["true", "1"].contains(text.lowercased()) ? true : (["false", "0"].contains(text.lowercased()) ? false : nil)
            default: nil
            }
        }
        var updatedAt: String?
        if case .integer(let minutes)? = fields["definitions_updated_minutes_ago"] {
            let when = now.addingTimeInterval(-Double(minutes) * 60)
            updatedAt = Date(timeIntervalSince1970: (when.timeIntervalSince1970 / 60).rounded(.down) * 60).ISO8601Format()
        }
        let issues: [String]? = fields["health_issues"]?.arrayValue?.compactMap(\.stringValue)
        let organization = string("org_id").flatMap { $0.lowercased() == "unavailable" ? nil : $0 }
        let status = DefenderStatus(
            installed: true, version: string("app_version"), healthy: bool("healthy"), healthIssues: issues,
            realTimeProtectionEnabled: bool("real_time_protection_enabled"), definitionsVersion: string("definitions_version"),
            definitionsUpdatedAt: updatedAt, definitionsStatus: string("definitions_status"), organizationId: organization,
            passiveMode: bool("passive_mode_enabled"), tamperProtection: string("tamper_protection"))
        // Counters that move on every reading are not part of what is compared between readings.
        fields["definitions_updated_minutes_ago"] = nil
        fields["definitions_updated"] = nil
        return DefenderObservation(status: status, fields: fields, source: "mdatp health")
    }
}

/// Parses `Get-MpComputerStatus | ConvertTo-Json` (Windows). Property names are those of the
/// MSFT_MpComputerStatus class as Microsoft's Get-MpComputerStatus reference prints them.
public enum MpComputerStatusParser {
    public static func parse(_ data: Data, now: Date, organizationId: String? = nil) -> DefenderObservation? {
        guard let document = try? JSONDecoder().decode(JSONValue.self, from: data), case .object(let fields) = document else { return nil }
        func bool(_ key: String) -> Bool? {
            switch fields[key] {
            case .bool(let value)?: value
            case .string(let text)?: text.lowercased() == "true" ? true : (text.lowercased() == "false" ? false : nil)
            default: nil
            }
        }
        func string(_ key: String) -> String? { fields[key]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
        func integer(_ key: String) -> Int64? {
            if case .integer(let number)? = fields[key] { return number }
            return nil
        }
        var issues: [String] = []
        if bool("AMServiceEnabled") == false { issues.append("the antimalware service is not running (AMServiceEnabled is false)") }
        if bool("AntivirusEnabled") == false { issues.append("antivirus protection is off (AntivirusEnabled is false)") }
        if bool("DefenderSignaturesOutOfDate") == true { issues.append("the security intelligence is out of date (DefenderSignaturesOutOfDate is true)") }
        if let state = integer("ComputerState"), state != 0 { issues.append("actions are pending on the device (ComputerState \(state))") }
        let runningMode = string("AMRunningMode")
        return DefenderObservation(
            status: DefenderStatus(
                installed: true, version: string("AMProductVersion"), healthy: issues.isEmpty, healthIssues: issues,
                realTimeProtectionEnabled: bool("RealTimeProtectionEnabled"), definitionsVersion: string("AntivirusSignatureVersion"),
                definitionsUpdatedAt: signatureTime(fields["AntivirusSignatureLastUpdated"], ageDays: integer("AntivirusSignatureAge"), now: now),
                definitionsStatus: bool("DefenderSignaturesOutOfDate").map { $0 ? "out_of_date" : "up_to_date" },
                organizationId: organizationId, passiveMode: runningMode.map { $0.lowercased().contains("passive") },
                tamperProtection: bool("IsTamperProtected").map { $0 ? "block" : "disabled" }),
            fields: fields, source: "Get-MpComputerStatus")
    }

    /// ConvertTo-Json writes dates as `\/Date(1717488387000)\/` (Windows PowerShell 5.1) or ISO
    /// 8601 (PowerShell 7); the age in days is the fallback.
    static func signatureTime(_ value: JSONValue?, ageDays: Int64?, now: Date) -> String? {
        func minute(_ date: Date) -> String { Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60).ISO8601Format() }
        if let text = value?.stringValue {
            if let start = text.range(of: "Date("), let end = text.range(of: ")", range: start.upperBound..<text.endIndex),
               let millis = Int64(text[start.upperBound..<end.lowerBound].prefix { $0.isNumber || $0 == "-" }) {
                return minute(Date(timeIntervalSince1970: Double(millis) / 1000))
            }
            if let date = try? Date(text, strategy: .iso8601) { return minute(date) }
        }
        if case .object(let object)? = value, let text = object["DateTime"]?.stringValue, let date = try? Date(text, strategy: .iso8601) { return minute(date) }
        return ageDays.map { minute(now.addingTimeInterval(-Double($0) * 86_400)) }
    }
}

/// Settings whose effective value Defender reports, and how to read it from an observation.
/// A setting not listed here is `succeeded` once written where Defender is present: there is
/// nothing of Defender's to compare it with.
public enum EffectiveValues {
    struct Source: Sendable {
        /// Defender's fields this reading uses, for the message.
        var fields: [String]
        var read: @Sendable ([String: JSONValue]) -> JSONValue?
    }

    static func copy(_ field: String) -> Source { Source(fields: [field]) { $0[field] } }

    static let sources: [String: Source] = [
        // Linux and macOS (mdatp health).
        "antivirusEngine.enforcementLevel": Source(fields: ["passive_mode_enabled", "real_time_protection_enabled"]) { fields in
            guard let passive = fields["passive_mode_enabled"]?.boolValue, let realTime = fields["real_time_protection_enabled"]?.boolValue else { return nil }
            return .string(passive ? "passive" : (realTime ? "real_time" : "on_demand"))
        },
        "antivirusEngine.enableRealTimeProtection": copy("real_time_protection_enabled"),
        "antivirusEngine.passiveMode": copy("passive_mode_enabled"),
        "antivirusEngine.behaviorMonitoring": copy("behavior_monitoring"),
        "features.behaviorMonitoring": copy("behavior_monitoring"),
        "cloudService.enabled": copy("cloud_enabled"),
        "cloudService.automaticSampleSubmissionConsent": copy("cloud_automatic_sample_submission_consent"),
        "cloudService.automaticDefinitionUpdateEnabled": copy("automatic_definition_update_enabled"),
        "cloudService.diagnosticLevel": Source(fields: ["cloud_diagnostic_enabled"]) { fields in
            fields["cloud_diagnostic_enabled"]?.boolValue.map { .string($0 ? "optional" : "required") }
        },
        "tamperProtection.enforcementLevel": copy("tamper_protection"),
        "networkProtection.enforcementLevel": copy("network_protection_enforcement_level"),
        // Windows (Get-MpComputerStatus).
        "Defender/AllowRealtimeMonitoring": copy("RealTimeProtectionEnabled"),
        "Defender/AllowBehaviorMonitoring": copy("BehaviorMonitorEnabled"),
        "Defender/AllowIOAVProtection": copy("IoavProtectionEnabled"),
        "Defender/AllowOnAccessProtection": copy("OnAccessProtectionEnabled"),
    ]

    /// Nil when the values agree (or Defender reports nothing to compare); otherwise a message
    /// naming both values.
    public static func mismatch(settingId: String, expected: JSONValue, observation: DefenderObservation) -> String? {
        guard let source = sources[settingId], let effective = source.read(observation.fields) else { return nil }
        if same(effective, expected) { return nil }
        let reported = source.fields.compactMap { field in observation.fields[field].map { "\(field) \(describe($0))" } }.joined(separator: ", ")
        return "Defender's effective value is \(describe(effective)) but the policy sets \(describe(expected)) (\(observation.source): \(reported))"
    }

    static func same(_ left: JSONValue, _ right: JSONValue) -> Bool {
        if case .string(let a) = left, case .string(let b) = right { return a.lowercased() == b.lowercased() }
        return left == right
    }

    static func describe(_ value: JSONValue) -> String {
        String(decoding: CanonicalJSON.bytes(value), as: UTF8.self)
    }
}

import PalisadeCore

/// Turns what the enforcer did into states that mean what they say (docs/STATES.md): a written
/// setting is `succeeded` only where Defender is present to take it and, where Defender reports
/// the setting's effective value, that value is the one the policy set.
public enum DefenderVerification {
    static let maximumDetail = 1_000

    public static func report(_ enforcerReport: DeviceProtocol.StatusReport, configuration: DeviceConfiguration, observation: DefenderObservation) -> DeviceProtocol.StatusReport {
        let status = observation.status
        let unread = status.installed && observation.fields.isEmpty
        var report = enforcerReport
        report.results = enforcerReport.results.map { result in
            guard result.state == .succeeded else { return result }
            var verified = result
            if !status.installed {
                verified.state = .pending
                verified.detail = clip("written; waiting for Defender for Endpoint, which is not installed (\(status.detail ?? "not found"))")
            } else if unread {
                verified.state = .pending
                verified.detail = clip("written; waiting for Defender to report its state (\(status.detail ?? "no answer"))")
            } else if let expected = configuration.settings[result.settingId],
                      let mismatch = EffectiveValues.mismatch(settingId: result.settingId, expected: expected, observation: observation) {
                verified.state = .error
                verified.detail = clip(mismatch)
            }
            return verified
        }
        if !status.installed {
            report.detail = "Defender for Endpoint is not installed: \(status.detail ?? "not found"); the managed configuration is written and applies once it is installed"
        } else if unread {
            report.detail = "Defender's state could not be read: \(status.detail ?? "no answer")"
        }
        return report
    }

    static func clip(_ text: String) -> String {
        text.count <= maximumDetail ? text : String(text.prefix(maximumDetail - 1)) + "…"
    }
}

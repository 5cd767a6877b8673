/// Validates a policy's settings against the catalog for its platform and template.
public struct PolicyValidator: Sendable {
    public let catalog: SettingCatalog

    public init(catalog: SettingCatalog) {
        self.catalog = catalog
    }

    /// Every problem in `settings`, sorted by setting id; empty when the policy is valid.
    public func problems(platform: PolicyPlatform, template: PolicyTemplate, settings: [String: JSONValue]) -> [SettingProblem] {
        var problems: [SettingProblem] = []
        for (id, value) in settings.sorted(by: { $0.key < $1.key }) {
            guard let definition = catalog.definition(id, platform: platform) else {
                let elsewhere = catalog.platforms(offering: id)
                if elsewhere.isEmpty {
                    problems.append(.init(kind: .unknownSetting, settingId: id, path: id, expected: "unknown setting id", given: id))
                } else {
                    let names = elsewhere.map(\.rawValue).joined(separator: ", ")
                    problems.append(.init(kind: .wrongPlatform, settingId: id, path: id, expected: "not a \(platform.rawValue) setting (exists for \(names))", given: id))
                }
                continue
            }
            guard definition.template == template else {
                problems.append(.init(kind: .wrongTemplate, settingId: id, path: id, expected: "belongs to template \(definition.template.rawValue), not \(template.rawValue)", given: id))
                continue
            }
            problems += SettingValidator.problems(in: value, for: definition)
        }
        return problems
    }
}

/// The settings Palisade can manage, looked up by platform and id.
public struct SettingCatalog: Sendable {
    public let definitions: [SettingDefinition]
    private let byPlatformAndID: [PolicyPlatform: [String: SettingDefinition]]

    public init(definitions: [SettingDefinition]) {
        self.definitions = definitions
        var index: [PolicyPlatform: [String: SettingDefinition]] = [:]
        for definition in definitions {
            for platform in definition.platforms {
                index[platform, default: [:]][definition.id] = definition
            }
        }
        self.byPlatformAndID = index
    }

    public func definition(_ id: String, platform: PolicyPlatform) -> SettingDefinition? {
        byPlatformAndID[platform]?[id]
    }

    /// Platforms on which some setting with this id exists (for "wrong platform" messages).
    public func platforms(offering id: String) -> [PolicyPlatform] {
        PolicyPlatform.allCases.filter { byPlatformAndID[$0]?[id] != nil }
    }

    public func definitions(platform: PolicyPlatform, template: PolicyTemplate? = nil) -> [SettingDefinition] {
        definitions
            .filter { $0.platforms.contains(platform) && (template == nil || $0.template == template) }
            .sorted { $0.id < $1.id }
    }
}

extension SettingCatalog {
    /// The catalog generated from the vendor contracts (see `GeneratedCatalog.swift`).
    public static let standard: SettingCatalog = {
        do {
            return SettingCatalog(definitions: try CanonicalJSON.decode([SettingDefinition].self, from: generatedJSON))
        } catch {
            preconditionFailure("the generated catalog does not decode: \(error)")
        }
    }()
}

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
    /// The starter catalog: a hand-written set of Linux settings whose names, types, enums and
    /// ranges follow Microsoft's managed-preferences schema and the Linux reference
    /// (`shared/contracts/defender`). The generated catalog replaces it.
    public static let standard = SettingCatalog(definitions: linuxStarterSettings)

    static let exclusionItem = ObjectSchema(
        fields: [
            .init("$type", .enumeration(["excludedPath", "excludedFileExtension", "excludedFileName"]), required: true),
            .init("path", .string(minLength: 1), onlyWhen: ["excludedPath"]),
            .init("isDirectory", .boolean, onlyWhen: ["excludedPath"]),
            .init("extension", .string(minLength: 1), onlyWhen: ["excludedFileExtension"]),
            .init("name", .string(minLength: 1), onlyWhen: ["excludedFileName"]),
        ],
        discriminator: "$type",
        requiredByDiscriminator: [
            "excludedPath": ["path"],
            "excludedFileExtension": ["extension"],
            "excludedFileName": ["name"],
        ]
    )

    static let edrTagItem = ObjectSchema(fields: [
        .init("key", .enumeration(["GROUP"]), required: true),
        .init("value", .string(minLength: 1), required: true),
    ])

    static let linuxStarterSettings: [SettingDefinition] = [
        SettingDefinition(
            id: "antivirusEngine.enforcementLevel", platforms: [.linux], template: .antivirus,
            title: "Enforcement level", description: "Antivirus engine enforcement mode.",
            type: .enumeration(["real_time", "on_demand", "passive"])),
        SettingDefinition(
            id: "antivirusEngine.behaviorMonitoring", platforms: [.linux], template: .antivirus,
            title: "Behavior monitoring", description: "Behavior monitoring and blocking (needs real-time enforcement).",
            type: .enumeration(["enabled", "disabled"])),
        SettingDefinition(
            id: "antivirusEngine.scanArchives", platforms: [.linux], template: .antivirus,
            title: "Scan archives", description: "Scan inside archive files during on-demand scans.",
            type: .boolean),
        SettingDefinition(
            id: "antivirusEngine.enableFileHashComputation", platforms: [.linux], template: .antivirus,
            title: "File hash computation", description: "Compute file hashes for indicators.",
            type: .boolean),
        SettingDefinition(
            id: "antivirusEngine.maximumOnDemandScanThreads", platforms: [.linux], template: .antivirus,
            title: "Maximum on-demand scan threads", description: "Degree of parallelism of on-demand scans.",
            type: .integer(minimum: 1, maximum: 64)),
        SettingDefinition(
            id: "antivirusEngine.scanResultsRetentionDays", platforms: [.linux], template: .antivirus,
            title: "Scan results retention (days)", description: "Days that scan results are kept.",
            type: .integer(minimum: 1, maximum: 180)),
        SettingDefinition(
            id: "antivirusEngine.scanHistoryMaximumItems", platforms: [.linux], template: .antivirus,
            title: "Scan history size", description: "Number of entries kept in the scan history.",
            type: .integer(minimum: 5000, maximum: 15000)),
        SettingDefinition(
            id: "antivirusEngine.allowedThreats", platforms: [.linux], template: .antivirus,
            title: "Allowed threats", description: "Threat names that are not blocked.",
            type: .stringList),
        SettingDefinition(
            id: "cloudService.enabled", platforms: [.linux], template: .antivirus,
            title: "Cloud-delivered protection", description: "Cloud-delivered protection.",
            type: .boolean),
        SettingDefinition(
            id: "cloudService.diagnosticLevel", platforms: [.linux], template: .antivirus,
            title: "Diagnostic data level", description: "Diagnostic data sent to Microsoft.",
            type: .enumeration(["optional", "required"])),
        SettingDefinition(
            id: "cloudService.automaticSampleSubmissionConsent", platforms: [.linux], template: .antivirus,
            title: "Automatic sample submission", description: "Which suspicious samples are sent.",
            type: .enumeration(["none", "safe", "all"])),
        SettingDefinition(
            id: "cloudService.automaticDefinitionUpdateEnabled", platforms: [.linux], template: .antivirus,
            title: "Automatic security intelligence updates", description: "Update definitions automatically.",
            type: .boolean),
        SettingDefinition(
            id: "cloudService.cloudBlockLevel", platforms: [.linux], template: .antivirus,
            title: "Cloud block level", description: "How aggressively cloud protection blocks unknown files.",
            type: .enumeration(["normal", "moderate", "high", "high_plus", "zero_tolerance"])),
        SettingDefinition(
            id: "antivirusEngine.exclusions", platforms: [.linux], template: .antivirusExclusions,
            title: "Antivirus exclusions", description: "Paths, file extensions and process names excluded from scans.",
            type: .objectList(exclusionItem)),
        SettingDefinition(
            id: "edr.tags", platforms: [.linux], template: .edr,
            title: "Device tags", description: "Tags shown for the device in the Defender portal.",
            type: .objectList(edrTagItem)),
        SettingDefinition(
            id: "edr.groupIds", platforms: [.linux], template: .edr,
            title: "Device group", description: "Group identifier of the device in the Defender portal.",
            type: .string(minLength: 0)),
        SettingDefinition(
            id: "networkProtection.enforcementLevel", platforms: [.linux], template: .networkProtection,
            title: "Network protection", description: "Network protection enforcement level.",
            type: .enumeration(["disabled", "audit", "block"])),
    ]
}

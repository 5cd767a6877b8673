import Foundation
import PalisadeCore
import Testing

@Suite struct ValidationTests {
    let validator = PolicyValidator(catalog: .standard)

    @Test(arguments: [
        ("cloudService.enabled", JSONValue.string("true"), "cloudService.enabled", "a boolean"),
        ("antivirusEngine.maximumOnDemandScanThreads", 0, "antivirusEngine.maximumOnDemandScanThreads", "an integer from 1 to 64"),
        ("antivirusEngine.maximumOnDemandScanThreads", .number(2.5), "antivirusEngine.maximumOnDemandScanThreads", "an integer from 1 to 64"),
        ("antivirusEngine.enforcementLevel", "realtime", "antivirusEngine.enforcementLevel", "one of \"passive\", \"on_demand\", \"real_time\""),
        ("antivirusEngine.allowedThreats", ["EICAR", 3], "antivirusEngine.allowedThreats[1]", "a string"),
    ] as [(String, JSONValue, String, String)])
    func invalidValuesNameTheSettingWhatWasExpectedAndWhatWasGiven(id: String, value: JSONValue, path: String, expected: String) {
        let problems = validator.problems(platform: .linux, template: .antivirus, settings: [id: value])
        #expect(problems.count == 1)
        #expect(problems.first?.settingId == id)
        #expect(problems.first?.path == path)
        #expect(problems.first?.expected == expected)
        #expect(problems.first?.message.contains(path) == true)
    }

    @Test func objectListItemsAreCheckedFieldByField() {
        let problems = validator.problems(platform: .linux, template: .antivirusExclusions, settings: [
            "antivirusEngine.exclusions": [
                ["$type": "excludedPath", "path": "/opt", "isDirectory": true],
                ["$type": "excludedFileExtension", "path": "/nope"],
                ["$type": "excludedFileName", "name": "", "color": "red"],
            ],
        ])
        let paths = problems.map(\.path).sorted()
        #expect(paths == [
            "antivirusEngine.exclusions[1].extension",
            "antivirusEngine.exclusions[1].path",
            "antivirusEngine.exclusions[2].color",
            "antivirusEngine.exclusions[2].name",
        ])
    }

    @Test func unknownWrongPlatformAndWrongTemplateAreDistinguished() {
        let unknown = validator.problems(platform: .linux, template: .antivirus, settings: ["nope.nothing": true])
        #expect(unknown.first?.kind == .unknownSetting)
        let wrongPlatform = validator.problems(platform: .macos, template: .antivirus, settings: ["antivirusEngine.behaviorMonitoring": "enabled"])
        #expect(wrongPlatform.first?.kind == .wrongPlatform)
        let wrongTemplate = validator.problems(platform: .linux, template: .edr, settings: ["cloudService.enabled": true])
        #expect(wrongTemplate.first?.kind == .wrongTemplate)
    }

    @Test func validValuesPass() {
        let problems = validator.problems(platform: .linux, template: .antivirus, settings: [
            "antivirusEngine.enforcementLevel": "real_time",
            "antivirusEngine.maximumOnDemandScanThreads": 64,
            "cloudService.enabled": false,
            "antivirusEngine.allowedThreats": ["EICAR-Test-File (not a virus)"],
        ])
        #expect(problems.isEmpty)
    }
}

@Suite struct LinuxRenderingTests {
    @Test func settingsNestBySectionAndParseBack() throws {
        let settings: [String: JSONValue] = [
            "antivirusEngine.enforcementLevel": "real_time",
            "antivirusEngine.exclusions": [["$type": "excludedPath", "path": "/tmp", "isDirectory": true]],
            "cloudService.enabled": true,
            "edr.tags": [["key": "GROUP", "value": "prod"]],
        ]
        let data = try #require(try LinuxManagedJSONRenderer.render(settings))
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.hasSuffix("}\n"))
        let document = try JSONDecoder().decode(JSONValue.self, from: data)
        #expect(document.objectValue?.keys.sorted() == ["antivirusEngine", "cloudService", "edr"])
        #expect(document.objectValue?["antivirusEngine"]?.objectValue?["enforcementLevel"] == "real_time")
        #expect(LinuxManagedJSONRenderer.settings(in: document, ids: settings.keys) == settings)
        // Canonical: rendering twice gives the same bytes.
        #expect(try LinuxManagedJSONRenderer.render(settings) == data)
    }

    @Test func nothingManagedMeansNoFile() throws {
        #expect(try LinuxManagedJSONRenderer.render([:]) == nil)
    }
}

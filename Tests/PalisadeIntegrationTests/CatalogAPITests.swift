import Foundation
import PalisadeCore
import Testing

@Suite struct CatalogAPITests {
    @Test func templatesCatalogAndSingleSettings() async throws {
        try await TestServer.with(.sqlite) { server in
            let templates = try await server.api(.GET, "/api/v1/templates")
            let ids = templates["templates"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } ?? []
            #expect(ids == PolicyTemplate.allCases.map(\.rawValue))
            let asr = templates["templates"]?.arrayValue?.first { $0.objectValue?["id"] == "attackSurfaceReduction" }
            #expect(asr?.objectValue?["platforms"]?.arrayValue?.contains("windows") == true)

            let linuxAV = try await server.api(.GET, "/api/v1/catalog?platform=linux&template=antivirus")
            let settings = try #require(linuxAV["settings"]?.arrayValue)
            #expect(settings.contains { $0.objectValue?["id"] == "antivirusEngine.enforcementLevel" })
            #expect(settings.allSatisfy { $0.objectValue?["template"] == "antivirus" })
            #expect(!settings.contains { $0.objectValue?["id"] == "userInterface.hideStatusMenuIcon" }, "macOS-only keys are not offered for Linux")

            let realtime = try await server.api(.GET, "/api/v1/catalog/settings/Defender/AllowRealtimeMonitoring")
            #expect(realtime.status == 200)
            #expect(realtime["type"]?.objectValue?["kind"] == "boolean")
            #expect(realtime["registry"]?.objectValue?["valueName"] == "DisableRealtimeMonitoring")

            let asrRules = try await server.api(.GET, "/api/v1/catalog/settings/Defender/AttackSurfaceReductionRules")
            #expect(asrRules["merge"] == "keyedUnion")
            #expect(asrRules["type"]?.objectValue?["keys"]?.arrayValue?.count == 19)

            let shared = try await server.api(.GET, "/api/v1/catalog/settings/cloudService.enabled")
            #expect(shared.status == 200, "one definition serves both Linux and macOS")
            #expect(shared["platforms"] == ["linux", "macos"])

            let unknown = try await server.api(.GET, "/api/v1/catalog/settings/nothing.here")
            #expect(unknown.status == 404)
            let badPlatform = try await server.api(.GET, "/api/v1/catalog?platform=beos")
            #expect(badPlatform.status == 400)
            #expect(badPlatform.errorMessage?.contains("linux, macos, windows") == true)
        }
    }
}

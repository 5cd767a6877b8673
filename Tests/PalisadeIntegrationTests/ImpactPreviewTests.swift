import Foundation
import PalisadeCore
import PalisadeServer
import Testing

@Suite struct ImpactPreviewTests {
    @Test(arguments: StoreEngine.available)
    func previewTellsWhatWouldChangeAndSavesNothing(engine: StoreEngine) async throws {
        try await TestServer.with(engine) { server in
            let token = try await server.createEnrollmentToken()
            let a = try await TestAgent.enroll(server, name: "a", token: token)
            let b = try await TestAgent.enroll(server, name: "b", token: token)
            let c = try await TestAgent.enroll(server, name: "c", token: token)
            let ab = try await server.createGroup("ab", members: [a.deviceId, b.deviceId])
            let bc = try await server.createGroup("bc", members: [b.deviceId, c.deviceId])
            let base = try await server.createPolicy("Base", settings: ["cloudService.cloudBlockLevel": "high", "cloudService.enabled": true])
            try await server.assign(base, include: [ab])
            let other = try await server.createPolicy("Other", settings: ["cloudService.cloudBlockLevel": "normal"])
            try await server.assign(other, include: [])

            // Assigning "Other" to bc: b gets a conflict, c gets the value.
            let preview = try await server.api(.POST, "/api/v1/policies/\(other)/preview", ["assignments": ["include": [.string(bc)]]])
            #expect(preview.status == 200)
            #expect(preview["devicesEvaluated"] == 2)
            #expect(preview["devicesChanged"] == 2)
            #expect(preview["newConflicts"] == [["settingId": "cloudService.cloudBlockLevel", "devices": 1]])
            #expect(preview["settings"] == [["settingId": "cloudService.cloudBlockLevel", "devices": 2]])

            // Aligning Base's value instead would resolve nothing and change only the value.
            let settingsPreview = try await server.api(.POST, "/api/v1/policies/\(base)/preview", ["settings": ["cloudService.cloudBlockLevel": "moderate", "cloudService.enabled": true]])
            #expect(settingsPreview["devicesChanged"] == 2)
            #expect(settingsPreview["settings"] == [["settingId": "cloudService.cloudBlockLevel", "devices": 2]])
            #expect(settingsPreview["newConflicts"] == [])

            // Nothing was saved.
            #expect(try await server.api(.GET, "/api/v1/policies/\(other)")["assignments"]?.objectValue?["include"] == [])
            #expect(try await server.api(.GET, "/api/v1/policies/\(base)")["revision"] == 1)
            let invalid = try await server.api(.POST, "/api/v1/policies/\(base)/preview", ["settings": ["cloudService.enabled": "yes"]])
            #expect(invalid.errorCode == "invalid_settings")
        }
    }
}

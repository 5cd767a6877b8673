import Foundation
import Hummingbird
import PalisadeCore
import PalisadeServer
import Testing

/// The OpenAPI document is the API's contract: every route the router serves is documented,
/// and every documented operation is served.
@Suite struct OpenAPIDocumentTests {
    @Test func everyRouteIsDocumentedAndEveryDocumentedOperationIsServed() async throws {
        try await TestServer.with(.sqlite) { server in
            let router = buildRouter(store: server.store)
            // The API and the device protocol; the admin center's pages are HTML, not in the document.
            let served = Set(router.routes.filter { route in
                let path = "/\(route.path)".replacingOccurrences(of: "//", with: "/")
                return path.hasPrefix("/api/") || path.hasPrefix("/device/")
            }.map { route in
                // The catalog's catch-all (`**`, ids with slashes) is documented as {id}.
                "\(route.method.rawValue) " + "/\(route.path)".replacingOccurrences(of: "//", with: "/").replacingOccurrences(of: "**", with: "{id}")
            })
            let document = try await server.api(.GET, "/api/v1/openapi.json", token: "none")
            #expect(document.status == 200, "the document is served without authentication")
            let paths = try #require(document["paths"]?.objectValue)
            var documented: Set<String> = []
            for (path, operations) in paths {
                // Hummingbird describes captures as OpenAPI does: {id}.
                for method in operations.objectValue?.keys ?? [:].keys {
                    documented.insert("\(method.uppercased()) \(path)")
                }
            }
            #expect(!served.isEmpty)
            #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
            #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
        }
    }

    @Test func documentedSchemasMatchWhatTheServerAnswers() async throws {
        try await TestServer.with(.sqlite) { server in
            let document = try await server.api(.GET, "/api/v1/openapi.json", token: "none")
            let schemas = try #require(document["components"]?.objectValue?["schemas"]?.objectValue)
            let (agent, group, policy) = try await TestAgent.enrolledWithPolicy(server, name: "alpha", settings: ["cloudService.enabled": true])

            // Each answer carries at least the fields its schema marks required.
            let samples: [(String, String)] = [
                ("Device", "/api/v1/devices/\(agent.deviceId)"),
                ("Group", "/api/v1/groups/\(group)"),
                ("Policy", "/api/v1/policies/\(policy)"),
                ("PolicyReport", "/api/v1/policies/\(policy)/report"),
                ("PolicyRevision", "/api/v1/policies/\(policy)/revisions/1"),
                ("EnrollmentReport", "/api/v1/reports/enrollment"),
            ]
            for (schemaName, path) in samples {
                let required = schemas[schemaName]?.objectValue?["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
                let answer = try await server.api(.GET, path)
                let keys = Set(answer.body.objectValue?.keys.map { $0 } ?? [])
                #expect(!required.isEmpty)
                #expect(Set(required).isSubset(of: keys), "\(path) lacks \(Set(required).subtracting(keys)) required by \(schemaName)")
            }
            let errorAnswer = try await server.api(.GET, "/api/v1/devices/none")
            #expect(errorAnswer.errorCode == "not_found")
            #expect(errorAnswer.errorMessage != nil)
        }
    }
}

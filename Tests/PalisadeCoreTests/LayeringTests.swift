import Foundation
import Testing

/// The server's layers, checked on its sources: storage and domain code know nothing of HTTP,
/// and the admin front ends (REST controllers, admin pages) reach data only through the domain
/// services, so that a rule cannot be skipped by one front end.
@Suite struct LayeringTests {
    static let server = Contracts.packageRoot.appendingPathComponent("Sources/PalisadeServer")

    /// Every line of the Swift files in these folders of the server, with its place.
    /// Every folder of the server's sources.
    static var allFolders: [String] {
        get throws {
            try FileManager.default.contentsOfDirectory(atPath: server.path).filter { name in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: server.appendingPathComponent(name).path, isDirectory: &isDirectory) && isDirectory.boolValue
            }.sorted()
        }
    }

    static func lines(in folders: [String]) throws -> [(place: String, line: String)] {
        var found: [(String, String)] = []
        for folder in folders {
            let directory = server.appendingPathComponent(folder)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where name.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    found.append(("\(folder)/\(name):\(index + 1)", String(line)))
                }
            }
        }
        return found
    }

    @Test func storageAndDomainCodeThrowNoHTTPErrors() throws {
        let lines = try Self.lines(in: ["Store", "Directory", "Database", "Domain"])
        #expect(lines.count > 1000, "the folders were read")
        for (place, line) in lines where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
            // Bcrypt (hummingbird-auth) is a password hash, not HTTP.
            guard line.contains("PalisadeError") || line.contains("HTTPResponse") || line.hasPrefix("import Hummingbird") && line != "import HummingbirdBcrypt" else { continue }
            Issue.record("\(place) uses the HTTP layer: \(line.trimmingCharacters(in: .whitespaces))")
        }
    }

    /// What the admin front ends may still take from the store itself: signing a session in
    /// (the page middleware), the catalog the policy editor is built from, and the clock.
    static let allowedStoreUses: Set<String> = ["store.authenticate", "store.catalog", "store.clock"]
    /// The device protocol and health checks are not admin front ends.
    static let notAdminFrontEnds: Set<String> = ["DeviceProtocolController.swift", "HealthController.swift"]

    @Test func adminFrontEndsReachDataOnlyThroughDomainServices() throws {
        let lines = try Self.lines(in: ["Controllers", "AdminCenter"])
        var checked = 0
        for (place, line) in lines where !Self.notAdminFrontEnds.contains(where: { place.contains("/\($0):") }) {
            checked += 1
            for match in line.matches(of: /store\.[A-Za-z]+/) where !Self.allowedStoreUses.contains(String(match.output)) {
                Issue.record("\(place) calls the store directly (\(match.output)); call a domain service: \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(checked > 1000, "the front ends were read")
    }

    /// Every Swift file of every product (not the tests), recursively, with its lines.
    static func productSources() throws -> [(place: String, lines: [String])] {
        let sources = Contracts.packageRoot.appendingPathComponent("Sources")
        guard let walker = FileManager.default.enumerator(atPath: sources.path) else { return [] }
        var files: [(String, [String])] = []
        for case let path as String in walker where path.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
            files.append((path, text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    /// Work that nothing supervises (issue 18): `Task { }`, `Task(...)` or `Task.detached`
    /// outside the tests is allowed only where a comment above it begins with "Unstructured"
    /// and says why it cannot be a child task or a service of the group.
    @Test func unstructuredTasksAreOnlyWhereACommentSaysWhy() throws {
        let files = try Self.productSources()
        #expect(files.count > 100, "the sources were read")
        let creation = /(^|[^A-Za-z0-9_.])Task(\s*\{|\s*\(|\.detached|<[^>]*>\s*\{)/
        var allowed: [String] = []
        for (path, lines) in files {
            for (index, line) in lines.enumerated() {
                let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                guard code.contains(creation) else { continue }
                // The comment block right above it (or up to three lines above, past a short
                // statement such as a lock box the task sets).
                var above: [String] = []
                var cursor = index - 1
                while cursor >= 0, above.count < 12 {
                    let text = lines[cursor].trimmingCharacters(in: .whitespaces)
                    if !text.hasPrefix("//"), index - cursor > 3 { break }
                    above.append(text)
                    cursor -= 1
                }
                if above.contains(where: { $0.hasPrefix("// Unstructured") }) {
                    allowed.append("\(path):\(index + 1)")
                } else {
                    Issue.record("\(path):\(index + 1) starts a task nothing supervises; make it a child task or a service, or say why it cannot be in a comment starting \"// Unstructured\": \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        // The places allowed today: the PostgreSQL pool outside a server, the hot path's two
        // group-commit drains, the simulator's run (cancelled by signal handlers) and the
        // agent's shared Defender reading.
        #expect(allowed.count <= 3, "more unstructured tasks than before: \(allowed)")
    }
}

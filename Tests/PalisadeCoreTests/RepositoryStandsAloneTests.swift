import Foundation
import Testing

/// A clean clone must build, generate and test with nothing beside it: no file may refer to the
/// shared folder that once held the vendor contracts next to the checkout.
@Suite struct RepositoryStandsAloneTests {
    /// Built from pieces so that this file does not match itself.
    static let forbidden = [".." + "/shared", "shared" + "/contracts"]
    /// Build output, git's own files and local tool state: not part of the repository.
    static let skippedDirectories: Set<String> = [".git", ".swiftpm", ".venv", "__pycache__", ".schemathesis", "palisade-data"]

    @Test func noFileRefersToTheSharedFolderBesideTheRepository() throws {
        let root = Contracts.packageRoot.standardizedFileURL
        let enumerator = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isDirectoryKey]))
        var filesRead = 0
        for case let url as URL in enumerator {
            let name = url.lastPathComponent
            if try url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory == true {
                if Self.skippedDirectories.contains(name) || name.hasPrefix(".build") { enumerator.skipDescendants() }
                continue
            }
            // Binary files (a NUL byte, or not UTF-8) hold no paths worth checking.
            guard let data = FileManager.default.contents(atPath: url.path), !data.contains(0),
                  let text = String(data: data, encoding: .utf8) else { continue }
            filesRead += 1
            let path = String(url.standardizedFileURL.path.dropFirst(root.path.count + 1))
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where Self.forbidden.contains(where: { line.contains($0) }) {
                Issue.record("\(path):\(index + 1) refers to the shared folder beside the repository: \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(filesRead > 100, "the walk read only \(filesRead) files under \(root.path)")
    }
}

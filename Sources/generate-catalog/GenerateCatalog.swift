import Foundation
import PalisadeCatalogGenerator

/// Regenerates `Sources/PalisadeCore/Catalog/GeneratedCatalog.swift` from the repository's
/// `contracts/` (vendor files and reference tables).
/// Usage: swift run generate-catalog [CONTRACTS_DIR] [OUTPUT]
@main
struct GenerateCatalog {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let contracts = arguments.first.map { URL(fileURLWithPath: $0) }
            ?? packageRoot.appendingPathComponent("contracts")
        let output = arguments.dropFirst().first.map { URL(fileURLWithPath: $0) }
            ?? packageRoot.appendingPathComponent("Sources/PalisadeCore/Catalog/GeneratedCatalog.swift")
        let source = try CatalogGenerator.swiftSource(contractsDirectory: contracts)
        try source.write(to: output, atomically: true, encoding: .utf8)
        print("wrote \(output.path)")
    }
}

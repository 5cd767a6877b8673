import Foundation
import Logging
import PalisadeCore
import SQLKit

/// Palisade's data: tenants, tokens, devices, groups, policies, configurations and reports.
/// Every query is scoped by tenant. Mutations that can change what devices receive go through
/// the tenant's in-memory directory engine, recompute the affected devices' effective
/// configurations in the same transaction, then wake their long-polls once it has committed.
public struct PalisadeStore: Sendable {
    public let backend: any DatabaseBackend
    public let catalog: SettingCatalog
    public let notifier: ConfigurationChangeNotifier
    let logger: Logger
    /// Each tenant's directory engine between writes (see `writeDirectory`).
    let directories = TenantDirectoryCache()

    public init(backend: any DatabaseBackend, catalog: SettingCatalog = .standard, notifier: ConfigurationChangeNotifier = ConfigurationChangeNotifier(), logger: Logger) {
        self.backend = backend
        self.catalog = catalog
        self.notifier = notifier
        self.logger = logger
    }

    var resolver: EffectiveConfigurationResolver { EffectiveConfigurationResolver(catalog: catalog) }

    /// Applies pending migrations.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await Migrations.apply(on: backend, logger: logger)
    }

    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await backend.read(body)
    }

    /// A write transaction under the tenant's lock for data that no device's configuration
    /// depends on (enrollment tokens, device settings). Anything else goes through
    /// `writeDirectory`.
    func write<T: Sendable>(tenant: String, _ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await backend.write(lockKey: "tenant:\(tenant)", body)
    }
}

extension SQLRow {
    func string(_ column: String) throws -> String { try decode(column: column, as: String.self) }
    func optionalString(_ column: String) throws -> String? { try decode(column: column, as: String?.self) }
    func int(_ column: String) throws -> Int { try decode(column: column, as: Int.self) }
    func optionalInt(_ column: String) throws -> Int? { try decode(column: column, as: Int?.self) }
    func millis(_ column: String) throws -> Int64 { try decode(column: column, as: Int64.self) }
    func optionalMillis(_ column: String) throws -> Int64? { try decode(column: column, as: Int64?.self) }

    func json<T: Decodable>(_ column: String, as type: T.Type) throws -> T {
        let text = try string(column)
        do {
            return try CanonicalJSON.decode(type, from: text)
        } catch {
            throw StoreError.corrupt("column \(column): \(error)")
        }
    }
}

extension Array where Element: Sendable {
    /// Splits long IN lists so that no statement exceeds the engines' parameter limits.
    func chunked(_ size: Int = 500) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    try CanonicalJSON.string(value)
}

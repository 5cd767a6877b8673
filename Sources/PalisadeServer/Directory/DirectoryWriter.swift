import Foundation
import Logging
import PalisadeCore
import SQLKit

/// The one writer of a tenant's directory: it owns each tenant's engine between writes
/// (`TenantDirectoryCache`), the write transaction and its edit (`write`), catching up with
/// other replicas (`DirectoryCatchUp`), the recompute of the affected devices and their stored
/// report states, the change log, and the wake-ups after commit. Domain services call `write`
/// for any change a device's configuration can depend on, and `read` for the committed
/// directory (dynamic memberships, previews).
public struct DirectoryWriter: Sendable {
    let backend: any DatabaseBackend
    let catalog: SettingCatalog
    let notifier: ConfigurationChangeNotifier
    let clock: any WallClock
    let metrics: ServerMetrics
    let logger: Logger
    /// Each tenant's directory engine between writes.
    let directories = TenantDirectoryCache()

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await backend.read(body)
    }

    func readSnapshot<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await backend.readSnapshot(body)
    }
}

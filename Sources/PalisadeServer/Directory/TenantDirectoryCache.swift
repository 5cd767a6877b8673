import PalisadeCore

/// Each tenant's directory engine, kept in memory between write transactions, with the
/// directory version it reflects. A write leases its tenant's index exclusively (other
/// writers of the tenant on this replica wait), so that the index is moved, never copied,
/// and a transaction that fails midway simply does not hand it back: the next write
/// loads the tenant again from the database.
actor TenantDirectoryCache {
    struct Entry: Sendable {
        /// The `directory_versions.version` the index reflects.
        var version: Int64
        var index: DirectoryIndex
    }

    private var entries: [String: Entry] = [:]
    private var leased: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var readers: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Waits until no other write of this replica holds the tenant, then hands over its
    /// cached entry (nil when there is none yet).
    func lease(_ tenant: String) async -> Entry? {
        while leased.contains(tenant) {
            await withCheckedContinuation { waiters[tenant, default: []].append($0) }
        }
        leased.insert(tenant)
        return entries.removeValue(forKey: tenant)
    }

    /// The cached entry as of the last commit on this replica, without leasing it (reads).
    /// While a write of this replica holds the tenant, waits for it: a read sees the write's
    /// result, and never needs the database's write lock for that.
    func committed(_ tenant: String) async -> Entry? {
        while leased.contains(tenant) {
            await withCheckedContinuation { readers[tenant, default: []].append($0) }
        }
        return entries[tenant]
    }

    /// Ends a lease; `entry` is the index as of the committed transaction, or nil to drop it.
    func release(_ tenant: String, entry: Entry?) {
        entries[tenant] = entry
        leased.remove(tenant)
        for reader in readers.removeValue(forKey: tenant) ?? [] { reader.resume() }
        if var queue = waiters[tenant], !queue.isEmpty {
            queue.removeFirst().resume()
            waiters[tenant] = queue.isEmpty ? nil : queue
        }
    }
}

import Foundation
import Logging
import PalisadeCore
import SQLKit
import ServiceLifecycle

/// Group commit of single-use assertion ids (`GroupCommitQueue`, drained by the server's
/// `HotPathCommitting`): requests arriving while a batch commits wait for the next one, and
/// each batch is one transaction with one multi-row
/// `INSERT ... ON CONFLICT DO NOTHING RETURNING`. The database's unique key (device, jti)
/// stays the arbiter: an id is accepted only if this batch's insert created its row, so a
/// replay is refused whether its first use was in the same batch, in a concurrent batch, or
/// on another replica. A request is answered only after its batch has committed.
actor AssertionLedger {
    struct Use: Sendable, Hashable {
        var deviceId: String
        var jti: String
        var expiresAt: Int64

        var key: Key { Key(deviceId: deviceId, jti: jti) }
    }

    struct Key: Sendable, Hashable {
        var deviceId: String
        var jti: String
    }

    typealias Request = (use: Use, answer: CheckedContinuation<Bool?, any Error>)

    static let maximumBatch = 500
    /// Expired ids are deleted at most this often (one indexed DELETE in a batch's transaction).
    static let purgeIntervalMillis: Int64 = 10_000

    private let backend: any DatabaseBackend
    private let clock: any WallClock
    /// Batches of one replica never wait for another replica's: the unique key decides.
    private let lockKey = "assertions:\(UUID().uuidString)"
    private nonisolated let queue = GroupCommitQueue<Request>(maximumBatch: maximumBatch)
    private var lastPurge: Int64 = 0
    private(set) var batchesCommitted = 0

    init(backend: any DatabaseBackend, clock: any WallClock) {
        self.backend = backend
        self.clock = clock
    }

    /// True when this is the id's first use; false for a replay. Throws if the batch failed.
    nonisolated func record(_ use: Use) async throws -> Bool {
        let batched: Bool? = try await withCheckedThrowingContinuation { answer in
            if !queue.submit((use, answer)) { answer.resume(returning: nil) }
        }
        if let batched { return batched }
        // No drain runs (no server, or it is stopping): a batch of one.
        return try await commit([use]).contains(use.key)
    }

    /// The group commit's loop (`HotPathCommitting`).
    nonisolated func drain() async {
        await queue.drain(commit: { await self.commitBatch($0) }, abandon: { batch in
            for (_, answer) in batch { answer.resume(throwing: CancellationError()) }
        })
    }

    private func commitBatch(_ batch: [Request]) async {
        do {
            let created = try await commit(batch.map(\.use))
            // Two uses of one id in the same batch: the first is granted, the rest are replays.
            var granted: Set<Key> = []
            for (use, answer) in batch {
                answer.resume(returning: created.contains(use.key) && granted.insert(use.key).inserted)
            }
        } catch {
            for (_, answer) in batch { answer.resume(throwing: error) }
        }
    }

    private func commit(_ uses: [Use]) async throws -> Set<Key> {
        let now = clock.nowMillis
        let purge = now - lastPurge >= Self.purgeIntervalMillis
        if purge { lastPurge = now }
        // Sorted and distinct: concurrent batches on PostgreSQL take row locks in one order.
        var seen: Set<Key> = []
        let rows = uses.filter { seen.insert($0.key).inserted }.sorted { ($0.deviceId, $0.jti) < ($1.deviceId, $1.jti) }
        let created = try await backend.write(lockKey: lockKey) { sql in
            if purge {
                try await sql.raw("DELETE FROM device_assertion_nonces WHERE expires_at < \(bind: now)").run()
            }
            return try await sql.raw(SQLQueryString.insert(
                "INSERT INTO device_assertion_nonces (device_id, jti, expires_at) VALUES ",
                rows: rows.map { "(\(bind: $0.deviceId), \(bind: $0.jti), \(bind: $0.expiresAt))" },
                suffix: " ON CONFLICT (device_id, jti) DO NOTHING RETURNING device_id, jti")).all()
                .map { Key(deviceId: try $0.string("device_id"), jti: try $0.string("jti")) }
        }
        batchesCommitted += 1
        return Set(created)
    }
}

/// Write-behind of last-seen times for check-ins that change nothing else: noted in memory,
/// written by `LastSeenWriting` (a service of the server's group) every `interval` in one
/// transaction for every device noted meanwhile, and once more on graceful shutdown. A crash
/// loses at most the last interval's times (the devices look one interval less recently seen;
/// their next check-in writes it again). A store used without a server holds the times until
/// `flush()`.
actor LastSeenWriter {
    static let interval: Duration = .seconds(1)
    private let backend: any DatabaseBackend
    private let logger: Logger
    /// By device: its tenant and the latest time noted.
    private var pending: [String: (tenant: String, millis: Int64)] = [:]
    /// Failed flushes in a row; after `maximumRetries` the times are dropped (they are only
    /// last-seen times, and the next check-in notes them again), so that a store whose
    /// database is gone for good does not retry for ever.
    private var failures = 0
    static let maximumRetries = 5

    init(backend: any DatabaseBackend, logger: Logger) {
        self.backend = backend
        self.logger = logger
    }

    func note(_ deviceId: String, tenant: String, at millis: Int64) {
        pending[deviceId] = (tenant, max(pending[deviceId]?.millis ?? millis, millis))
    }

    var pendingCount: Int { pending.count }

    /// Writes every noted time now. A time never moves backwards (a direct write may be newer).
    /// A failed write keeps the times for the next flush.
    func flush() async {
        let batch = pending
        pending = [:]
        guard !batch.isEmpty else { return }
        do {
            for chunk in batch.sorted(by: { $0.key < $1.key }).chunked(400) {
                try await backend.write(lockKey: "last-seen") { sql in
                    try await sql.raw(SQLQueryString.insert(
                        "UPDATE devices SET last_check_in_at = v.column3 FROM (VALUES ",
                        rows: chunk.map { "(\(bind: $0.key), \(bind: $0.value.tenant), \(bind: $0.value.millis))" },
                        suffix: """
                            ) AS v WHERE devices.id = v.column1 AND devices.tenant_id = v.column2
                            AND (devices.last_check_in_at IS NULL OR devices.last_check_in_at < v.column3)
                            """)).run()
                }
            }
            failures = 0
        } catch {
            failures += 1
            guard failures <= Self.maximumRetries else {
                logger.warning("could not write last-seen times; dropped", metadata: ["devices": "\(batch.count)", "error": "\(error)"])
                failures = 0
                return
            }
            logger.warning("could not write last-seen times; retrying", metadata: ["devices": "\(batch.count)", "error": "\(error)"])
            for (id, noted) in batch { pending[id] = (noted.tenant, max(pending[id]?.millis ?? noted.millis, noted.millis)) }
        }
    }
}

/// The server's writer of last-seen times (`LastSeenWriter`): a flush every interval until
/// the group stops gracefully, then a last one, once the HTTP server (which stops first) has
/// answered its last check-in.
struct LastSeenWriting: Service {
    let store: PalisadeStore

    func run() async {
        while !Task.isShuttingDownGracefully {
            // A graceful shutdown ends the wait at once.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: LastSeenWriter.interval) }
            // Cancelled (not a graceful stop): the database may be closing under us; a write
            // now could wait for ever and hold the service group open.
            guard !Task.isCancelled else { return }
            await store.flushLastSeen()
        }
        // Times noted while the last flush ran.
        await store.flushLastSeen()
    }
}

/// Group commit of per-device writes (status reports, delivered configurations) on SQLite
/// (`GroupCommitQueue`, drained by the server's `HotPathCommitting`): writes that arrive while a batch commits wait for the next one, and a batch runs each write
/// in turn in one transaction, so a thousand reports after a policy change cost a few synced
/// commits of the single writer instead of a thousand. Each caller is answered only once its
/// batch has committed, with what its own write returned. (PostgreSQL: see `write`.)
///
/// Writes run sorted by device, inside the single writer's transaction. A batch that fails is
/// retried one write per transaction, so that one bad write fails alone; a full disk fails the
/// whole batch at once (retrying would only make every caller wait longer for the same answer).
actor DeviceWriteBatcher {
    struct Write: Sendable {
        var deviceId: String
        var run: @Sendable (any SQLDatabase) async throws -> Void
        /// True once committed in a batch; false when no drain runs and the caller writes alone.
        var answer: CheckedContinuation<Bool, any Error>
    }

    static let maximumBatch = 200
    private let backend: any DatabaseBackend
    private let batchLock = "device-writes"
    private nonisolated let queue = GroupCommitQueue<Write>(maximumBatch: maximumBatch)
    private(set) var batchesCommitted = 0

    init(backend: any DatabaseBackend) {
        self.backend = backend
    }

    /// Runs `body` inside a batch's transaction; returns its result once the batch has
    /// committed. On PostgreSQL each write is its own transaction, as
    /// before: there a batch's writes would run one round trip after another on one connection
    /// where lone writes run side by side on the pool, and PostgreSQL already groups
    /// concurrent commits' WAL flushes itself (measured: at 10,000 devices over two replicas,
    /// batched reports fell behind the agents' 30 s timeout).
    nonisolated func write<T: Sendable>(deviceId: String, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        if backend.kind == .postgres {
            return try await backend.write(lockKey: "device:\(deviceId)", body)
        }
        let result = WriteResult<T>()
        let batched: Bool = try await withCheckedThrowingContinuation { (answer: CheckedContinuation<Bool, any Error>) in
            let write = Write(deviceId: deviceId, run: { sql in result.set(try await body(sql)) }, answer: answer)
            if !queue.submit(write) { answer.resume(returning: false) }
        }
        // No drain runs (no server, or it is stopping): a transaction of its own.
        guard batched else { return try await backend.write(lockKey: batchLock, body) }
        return try result.value()
    }

    /// The group commit's loop (`HotPathCommitting`).
    nonisolated func drain() async {
        await queue.drain(commit: { await self.commitBatch($0) }, abandon: { batch in
            for write in batch { write.answer.resume(throwing: CancellationError()) }
        })
    }

    private func commitBatch(_ batch: [Write]) async {
        // Stable: two writes of one device keep their order.
        let ordered = batch.enumerated().sorted { ($0.element.deviceId, $0.offset) < ($1.element.deviceId, $1.offset) }.map(\.element)
        do {
            try await commit(ordered)
            batchesCommitted += 1
            for write in ordered { write.answer.resume(returning: true) }
        } catch where batch.count > 1 && !DatabaseFailure.isStorageFull(error) {
            for write in ordered {
                do {
                    try await commit([write])
                    write.answer.resume(returning: true)
                } catch {
                    write.answer.resume(throwing: error)
                }
            }
        } catch {
            for write in ordered { write.answer.resume(throwing: error) }
        }
    }

    private func commit(_ writes: [Write]) async throws {
        try await backend.write(lockKey: batchLock) { sql in
            for write in writes { try await write.run(sql) }
        }
    }
}

/// What one write of a batch returned (set inside the transaction, read after the commit; a
/// batch retried write by write sets it again).
private final class WriteResult<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?

    func set(_ value: T) { lock.withLock { stored = value } }

    func value() throws -> T {
        guard let value = lock.withLock({ stored }) else { throw CancellationError() }
        return value
    }
}

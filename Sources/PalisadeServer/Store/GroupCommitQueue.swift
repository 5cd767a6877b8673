import NIOConcurrencyHelpers
import ServiceLifecycle

/// Requests waiting for a group commit, and the loop that commits them in batches (`drain`),
/// run by a service of the server's group (`HotPathCommitting`). Requests arriving while a
/// batch commits wait for the next one.
///
/// While no service drains, `submit` refuses and the caller commits alone: a store used
/// without a server (tools, benches, some tests), and requests arriving after a graceful stop
/// began. So a request is never left in a queue that nobody will drain.
final class GroupCommitQueue<Request: Sendable>: Sendable {
    private struct State {
        var requests: [Request] = []
        /// The running drain's wake-ups; nil while none runs.
        var wake: AsyncStream<Void>.Continuation?
    }

    private let state = NIOLockedValueBox(State())
    let maximumBatch: Int

    init(maximumBatch: Int) {
        self.maximumBatch = maximumBatch
    }

    /// Queues `request` for the running drain; false (and nothing queued) when none runs.
    func submit(_ request: Request) -> Bool {
        let wake: AsyncStream<Void>.Continuation? = state.withLockedValue { state in
            guard let wake = state.wake else { return nil }
            state.requests.append(request)
            return wake
        }
        wake?.yield()
        return wake != nil
    }

    var isDraining: Bool { state.withLockedValue { $0.wake != nil } }

    /// Commits queued requests, at most `maximumBatch` at a time, until the task is cancelled
    /// or the group stops gracefully. A graceful stop commits what is queued; a cancellation
    /// hands it to `abandon` (the database may be closing: a commit now could wait for ever).
    func drain(commit: ([Request]) async -> Void, abandon: ([Request]) -> Void) async {
        // One wake-up buffered is enough: each wake-up drains everything queued.
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        state.withLockedValue { $0.wake = wake }
        await withGracefulShutdownHandler {
            for await _ in wakeups {
                while !Task.isCancelled {
                    let batch = take(maximumBatch)
                    if batch.isEmpty { break }
                    await commit(batch)
                }
            }
        } onGracefulShutdown: {
            wake.finish()
        }
        // From here on callers commit alone; what they queued before is still ours.
        let left = state.withLockedValue { state in
            state.wake = nil
            defer { state.requests = [] }
            return state.requests
        }
        if Task.isCancelled {
            abandon(left)
        } else {
            for batch in left.chunked(maximumBatch) { await commit(batch) }
        }
    }

    private func take(_ count: Int) -> [Request] {
        state.withLockedValue { state in
            let batch = Array(state.requests.prefix(count))
            state.requests.removeFirst(batch.count)
            return batch
        }
    }
}

/// The server's group commit of the check-in hot path: single-use assertion ids and per-device
/// writes, each drained by its own loop. Listed before the HTTP server, so it stops after the
/// server has answered its last request, and commits what those requests queued.
struct HotPathCommitting: Service {
    let store: PalisadeStore

    func run() async {
        async let assertions: Void = store.assertionLedger.drain()
        async let deviceWrites: Void = store.deviceWrites.drain()
        _ = await (assertions, deviceWrites)
    }
}

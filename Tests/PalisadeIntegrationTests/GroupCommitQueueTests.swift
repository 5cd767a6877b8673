import Foundation
import Logging
import NIOConcurrencyHelpers
@testable import PalisadeServer
import ServiceLifecycle
import Testing

/// The hot path's group commit queue (`GroupCommitQueue`): drained by a service, never left
/// holding a request that nobody will commit.
@Suite struct GroupCommitQueueTests {
    /// A request that waits for its answer: true once committed in a batch, false when refused
    /// by the queue (no drain runs), an error when abandoned.
    struct Waiting: Sendable {
        var entry: Int
        var answer: CheckedContinuation<Bool, any Error>
    }

    /// What the drain committed, batch by batch; each commit holds long enough for later
    /// submissions to queue behind it.
    final class Commits: Sendable {
        private let seen = NIOLockedValueBox<[[Int]]>([])
        private let inside = NIOLockedValueBox(0)
        private let overlapped = NIOLockedValueBox(false)
        let pause: Duration

        init(pause: Duration = .milliseconds(20)) { self.pause = pause }

        func commit(_ batch: [Waiting]) async {
            inside.withLockedValue { count in
                count += 1
                if count > 1 { overlapped.withLockedValue { $0 = true } }
            }
            seen.withLockedValue { $0.append(batch.map(\.entry)) }
            try? await Task.sleep(for: pause)
            inside.withLockedValue { $0 -= 1 }
            for request in batch { request.answer.resume(returning: true) }
        }

        var batches: [[Int]] { seen.withLockedValue { $0 } }
        var anyOverlap: Bool { overlapped.withLockedValue { $0 } }
    }

    struct DrainService: Service {
        let queue: GroupCommitQueue<Waiting>
        let commits: Commits

        func run() async {
            await queue.drain(commit: { await commits.commit($0) }, abandon: { batch in
                for request in batch { request.answer.resume(throwing: CancellationError()) }
            })
        }
    }

    static func submit(_ entry: Int, to queue: GroupCommitQueue<Waiting>) async throws -> Bool {
        try await withCheckedThrowingContinuation { answer in
            if !queue.submit(Waiting(entry: entry, answer: answer)) { answer.resume(returning: false) }
        }
    }

    static func waitUntilDraining(_ queue: GroupCommitQueue<Waiting>) async throws {
        for _ in 0..<1_000 where !queue.isDraining { try await Task.sleep(for: .milliseconds(5)) }
        #expect(queue.isDraining)
    }

    @Test func withoutADrainTheQueueRefusesAndHoldsNothing() async throws {
        let queue = GroupCommitQueue<Waiting>(maximumBatch: 8)
        #expect(try await Self.submit(1, to: queue) == false, "the caller is told to commit alone")
        #expect(!queue.isDraining)
    }

    @Test func requestsArrivingTogetherShareBatchesThatNeverOverlap() async throws {
        let queue = GroupCommitQueue<Waiting>(maximumBatch: 8)
        let commits = Commits()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await DrainService(queue: queue, commits: commits).run() }
            try await Self.waitUntilDraining(queue)
            let answers = try await withThrowingTaskGroup(of: Bool.self) { submissions in
                for entry in 0..<60 { submissions.addTask { try await Self.submit(entry, to: queue) } }
                var answers: [Bool] = []
                for try await answer in submissions { answers.append(answer) }
                return answers
            }
            #expect(answers == Array(repeating: true, count: 60), "every request was committed by the drain")
            group.cancelAll()
        }
        let batches = commits.batches
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<60), "each request committed exactly once: \(batches)")
        #expect(batches.allSatisfy { $0.count <= 8 }, "no batch above the maximum: \(batches.map(\.count))")
        #expect(batches.count < 60, "requests queued behind a commit share the next batch: \(batches.map(\.count))")
        #expect(!commits.anyOverlap, "one batch at a time")
    }

    @Test func aGracefulStopCommitsWhatIsQueuedAndLaterRequestsCommitAlone() async throws {
        let queue = GroupCommitQueue<Waiting>(maximumBatch: 4)
        let commits = Commits(pause: .milliseconds(200))
        let (stopped, stop) = AsyncStream<Void>.makeStream()
        let group = ServiceGroup(configuration: .init(services: [DrainService(queue: queue, commits: commits)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await group.run()
                stop.yield()
            }
            try await Self.waitUntilDraining(queue)
            // The first request holds the drain for 200 ms; the next ten queue behind it.
            let answers = try await withThrowingTaskGroup(of: Bool.self) { submissions in
                submissions.addTask { try await Self.submit(0, to: queue) }
                try await Task.sleep(for: .milliseconds(50))
                for entry in 1...10 { submissions.addTask { try await Self.submit(entry, to: queue) } }
                try await Task.sleep(for: .milliseconds(50))
                await group.triggerGracefulShutdown()
                var answers: [Bool] = []
                for try await answer in submissions { answers.append(answer) }
                return answers
            }
            #expect(answers == Array(repeating: true, count: 11), "requests queued before the stop are committed by it")
            for await _ in stopped { break }
            #expect(!queue.isDraining)
            #expect(try await Self.submit(99, to: queue) == false, "after the stop a caller commits alone instead of waiting for ever")
        }
        #expect(commits.batches.flatMap { $0 }.sorted() == Array(0...10))
    }

    @Test func aCancelledDrainAnswersWhatIsQueuedWithAnError() async throws {
        let queue = GroupCommitQueue<Waiting>(maximumBatch: 4)
        let commits = Commits(pause: .milliseconds(300))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await DrainService(queue: queue, commits: commits).run() }
            try await Self.waitUntilDraining(queue)
            let first = Task { try await Self.submit(0, to: queue) }
            try await Task.sleep(for: .milliseconds(50))
            let queued = Task { try await Self.submit(1, to: queue) }
            try await Task.sleep(for: .milliseconds(50))
            group.cancelAll()
            #expect(try await first.value == true, "the batch already committing finishes")
            await #expect(throws: CancellationError.self, "a request still queued is answered, not left waiting") { try await queued.value }
        }
        #expect(!queue.isDraining)
    }
}

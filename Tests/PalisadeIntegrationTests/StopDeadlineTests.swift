import Logging
import NIOConcurrencyHelpers
@testable import PalisadeServer
import ServiceLifecycle
import Testing

/// `StopDeadline` (issue 18): a stop that cannot finish (a service ignoring it, as a request
/// stuck on an unreachable database would) ends the process `limit` after it was asked for,
/// and nothing ends it before a stop is asked for. The process's end is recorded, not done.
@Suite struct StopDeadlineTests {
    /// Ignores a graceful stop; ends only when cancelled.
    struct StubbornService: Service {
        func run() async throws {
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    @Test func aStopThatCannotFinishEndsTheProcessAfterTheLimit() async throws {
        let ended = NIOLockedValueBox(0)
        let limit = Duration.milliseconds(300)
        var logger = Logger(label: "palisade.test.stop-deadline")
        logger.logLevel = .critical
        let deadline = StopDeadline(limit: limit, logger: logger, endProcess: { ended.withLockedValue { $0 += 1 } })
        // As `runUntilStopped`: the deadline is listed last, so it is the first to hear the stop.
        let group = ServiceGroup(configuration: .init(services: [StubbornService(), deadline], logger: logger))
        let running = Task { try await group.run() }
        defer { running.cancel() }

        try await Task.sleep(for: .milliseconds(500))
        #expect(ended.withLockedValue { $0 } == 0, "nothing ends the process before a stop is asked for")

        let clock = ContinuousClock()
        let asked = clock.now
        await group.triggerGracefulShutdown()
        while ended.withLockedValue({ $0 }) == 0, clock.now - asked < .seconds(30) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let took = clock.now - asked
        #expect(ended.withLockedValue { $0 } == 1, "the process was ended once (waited \(took))")
        #expect(took >= limit, "not before the limit: \(took)")
        running.cancel()
        _ = await running.result
    }
}

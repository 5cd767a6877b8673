import Foundation
import PalisadeAgent
import PalisadeCore
@testable import PalisadeServer
import SQLKit
import Testing

/// The schedule a server sets (`palisade serve --check-in-interval --long-poll-seconds
/// --return-window`) and the agent obeys.
@Suite struct CheckInScheduleTests {
    /// A server with a schedule sends it with every check-in answer; the agent keeps it in its
    /// state, and forgets it when the server stops sending it.
    @Test(arguments: StoreEngine.available)
    func theAgentKeepsTheScheduleTheServerSends(engine: StoreEngine) async throws {
        let schedule = DeviceProtocol.CheckInSchedule(checkInIntervalSeconds: 30, waitSeconds: 45, returnWindowSeconds: 120)
        try await TestServer.with(engine, checkInSchedule: schedule) { server in
            let agent = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            #expect(try agent.agent.state.schedule() == nil, "nothing before the first check-in")
            try await agent.sync()
            #expect(try agent.agent.state.schedule() == schedule)
            let timing = PalisadeAgent.Timing(options: agent.agent.options, schedule: try agent.agent.state.schedule())
            #expect(timing == PalisadeAgent.Timing(options: .init(waitSeconds: 45, minimumInterval: .seconds(30)), schedule: nil).with(returnWindow: .seconds(120)))
        }
        try await TestServer.with(engine) { server in
            let agent = try await TestAgent.enroll(server, name: "beta", token: try await server.createEnrollmentToken())
            try agent.agent.state.saveSchedule(schedule)
            try await agent.sync()
            #expect(try agent.agent.state.schedule() == nil, "a server without a schedule gives the agent its own back")
        }
    }

    /// Timing: the server's values where set, the agent's elsewhere, clamped.
    @Test func timingTakesTheServersValuesWhereSetAndClampsThem() {
        let options = PalisadeAgent.Options(waitSeconds: 60, minimumInterval: .seconds(5))
        let own = PalisadeAgent.Timing(options: options, schedule: nil)
        #expect(own.waitSeconds == 60 && own.minimumInterval == .seconds(5) && own.returnWindow == nil)
        let partial = PalisadeAgent.Timing(options: options, schedule: .init(waitSeconds: 20))
        #expect(partial.waitSeconds == 20 && partial.minimumInterval == .seconds(5))
        let hostile = PalisadeAgent.Timing(options: options, schedule: .init(checkInIntervalSeconds: 1_000_000, waitSeconds: -5, returnWindowSeconds: 99_999))
        #expect(hostile.waitSeconds == 0)
        #expect(hostile.minimumInterval == .seconds(3_600))
        #expect(hostile.returnWindow == .seconds(3_600))
    }

    /// The running agent waits the server's interval between unchanged check-ins, not its own
    /// (50 ms in tests). Each check-in's assertion id is kept with its expiry (signing time +
    /// 60 s lifetime + 60 s skew), which dates the check-ins: consecutive ones are at least the
    /// server's 2 s apart (where the agent's own 50 ms would make them 50 ms apart).
    @Test(arguments: StoreEngine.available)
    func theRunningAgentWaitsTheServersInterval(engine: StoreEngine) async throws {
        try await TestServer.with(engine, checkInSchedule: .init(checkInIntervalSeconds: 2, waitSeconds: 0)) { server in
            let agent = try await TestAgent.enroll(server, name: "alpha", token: try await server.createEnrollmentToken())
            try await agent.sync()
            let before = try await server.count("device_assertion_nonces")
            let running = Task { try await agent.agent.run() }
            for _ in 0..<600 where try await server.count("device_assertion_nonces") < before + 4 {
                try await Task.sleep(for: .milliseconds(50))
            }
            running.cancel()
            _ = try? await running.value
            let signedAt = try await server.sql { sql in
                try await sql.raw("SELECT expires_at FROM device_assertion_nonces ORDER BY expires_at").all().map { try $0.decode(column: "expires_at", as: Int64.self) }
            }.suffix(from: before)
            #expect(signedAt.count >= 4, "four signed requests within 30 s")
            // A report (after a re-derived Defender state on a loaded machine) may follow its
            // check-in closely; check-ins themselves are 2 s apart, so most gaps are.
            let gaps = zip(signedAt.dropFirst(), signedAt).map { $0 - $1 }.sorted()
            #expect(gaps[gaps.count / 2] >= 1_900, "check-ins at least the server's 2 s apart (ms): \(gaps)")
        }
    }

    /// Issue 17: a server back within 5 s sees every agent again within 11 s of its return
    /// (2 T + base), with or without a return window: the agent's real retry waits, drawn in
    /// 20,000 outages per mode, each a run of failed tries until the first one after T.
    @Test func afterAShortOutageEveryAgentComesBackWithinTwiceItsLengthPlusTheBase() {
        let outage = Duration.seconds(5)
        for window in [nil, Duration.seconds(60), Duration.seconds(600)] {
            var latest = Duration.zero
            for _ in 0..<20_000 {
                var elapsed = Duration.zero
                var failures = 0
                while elapsed < outage {
                    failures += 1
                    elapsed += PalisadeAgent.retryDelay(failures: failures, failingFor: elapsed, base: .seconds(1), maximum: .seconds(300), returnWindow: window)
                }
                latest = max(latest, elapsed - outage)
            }
            #expect(latest <= outage * 2 + .seconds(1), "window \(window.map { "\($0)" } ?? "none"): an agent came back \(latest) after the server")
            #expect(latest > .zero)
        }
    }

    /// After an outage, retries with a return window are spread evenly over it: full jitter,
    /// capped by the window (not by the agent's own maximum).
    @Test func retriesAreSpreadUniformlyOverTheReturnWindow() {
        let window = Duration.seconds(60)
        let delays = (0..<10_000).map { _ in
            PalisadeAgent.retryDelay(failures: 12, failingFor: .seconds(3_600), base: .seconds(1), maximum: .seconds(300), returnWindow: window)
        }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= window })
        var buckets = [Int](repeating: 0, count: 10)
        for delay in delays { buckets[min(Int(delay / window * 10), 9)] += 1 }
        #expect(buckets.allSatisfy { (800...1_200).contains($0) }, "each tenth of the window gets about a tenth of the retries: \(buckets)")
        // Early failures still retry soon: the step doubles from the base.
        #expect((0..<200).allSatisfy { _ in PalisadeAgent.retryDelay(failures: 1, failingFor: .zero, base: .seconds(1), maximum: .seconds(300), returnWindow: window) <= .seconds(1) })
        // Without a window: the agent's own equal-jitter backoff (at least half the step).
        #expect((0..<200).allSatisfy { _ in
            let delay = PalisadeAgent.retryDelay(failures: 12, failingFor: .seconds(3_600), base: .seconds(1), maximum: .seconds(300), returnWindow: nil)
            return delay >= .seconds(150) && delay <= .seconds(300)
        })
    }
}

extension PalisadeAgent.Timing {
    func with(returnWindow: Duration?) -> Self {
        var copy = self
        copy.returnWindow = returnWindow
        return copy
    }
}

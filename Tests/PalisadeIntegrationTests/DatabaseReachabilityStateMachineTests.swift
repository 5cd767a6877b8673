@testable import PalisadeServer
import Testing

/// `DatabaseReachability`, the decisions `PostgresBackend` makes while a request waits for a
/// pooled connection, fed events by hand: no database, no socket, no clock (the times are
/// made up). `DatabaseOutageTests` checks the same behaviour against a real PostgreSQL.
@Suite struct DatabaseReachabilityStateMachineTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant {
        start.advanced(by: .milliseconds(milliseconds))
    }

    /// A machine in which one request was refused at `at(500)` (a refused probe).
    func foundUnreachable() -> DatabaseReachability {
        var machine = DatabaseReachability()
        let (request, _) = machine.requestArrived(at: at(0))
        _ = machine.waitLimitPassed(request, at: at(500))
        _ = machine.probeAnswered(request, .refused, at: at(500))
        machine.requestEnded(request)
        return machine
    }

    @Test func theLimitsAreTheServersOwn() {
        #expect(PostgresBackend.connectionWaitLimit == .milliseconds(500))
        #expect(PostgresBackend.unansweredProbesForUnreachable == 2)
        #expect(PostgresBackend.recentLeaseWindow == .seconds(1))
        let machine = DatabaseReachability()
        #expect(machine.unansweredProbesForUnreachable == PostgresBackend.unansweredProbesForUnreachable)
        #expect(machine.recentLeaseWindow == PostgresBackend.recentLeaseWindow)
    }

    @Test func aRequestLeasedAConnectionUsesItAndItsTimerStops() {
        var machine = DatabaseReachability()
        let (request, arrival) = machine.requestArrived(at: at(0))
        #expect(arrival == .waitForConnection)
        #expect(machine.connectionLeased(request, at: at(10)) == .useConnection)
        #expect(machine.waitLimitPassed(request, at: at(500)) == .stopWaiting)
        #expect(machine.lastLeased == at(10))
        machine.requestEnded(request)
        #expect(machine.requestCount == 0)
    }

    @Test func aWaitPastTheLimitProbesAndAnAcceptedProbeKeepsWaiting() {
        var machine = DatabaseReachability()
        let (request, _) = machine.requestArrived(at: at(0))
        #expect(machine.waitLimitPassed(request, at: at(500)) == .probe)
        #expect(machine.probeAnswered(request, .accepted, at: at(510)) == .keepWaiting, "the pool is only busy")
        #expect(machine.waitLimitPassed(request, at: at(1010)) == .probe)
        #expect(machine.probeAnswered(request, .accepted, at: at(1020)) == .keepWaiting)
        #expect(machine.connectionLeased(request, at: at(1300)) == .useConnection)
        #expect(machine.unreachableSince == nil)
    }

    @Test func aRefusedProbeRefusesAtOnceAndALateLeaseIsHandedBack() {
        var machine = DatabaseReachability()
        let (request, _) = machine.requestArrived(at: at(0))
        #expect(machine.waitLimitPassed(request, at: at(500)) == .probe)
        #expect(machine.probeAnswered(request, .refused, at: at(501)) == .refuseAsUnreachable)
        #expect(machine.unreachableSince == at(501))
        #expect(machine.connectionLeased(request, at: at(600)) == .refuseAsUnreachable, "the request has its answer already")
        #expect(machine.waitLimitPassed(request, at: at(1000)) == .stopWaiting)
        #expect(machine.unreachableSince == at(501), "a connection handed back clears nothing")
    }

    @Test func unansweredProbesRefuseOnlyAfterTwoInARow() {
        var machine = DatabaseReachability()
        let (request, _) = machine.requestArrived(at: at(0))
        #expect(machine.waitLimitPassed(request, at: at(500)) == .probe)
        #expect(machine.probeAnswered(request, .unanswered, at: at(1000)) == .keepWaiting, "one may be a saturated event loop")
        #expect(machine.waitLimitPassed(request, at: at(1500)) == .probe)
        #expect(machine.probeAnswered(request, .accepted, at: at(1510)) == .keepWaiting)
        #expect(machine.waitLimitPassed(request, at: at(2010)) == .probe)
        #expect(machine.probeAnswered(request, .unanswered, at: at(2510)) == .keepWaiting, "an accepted probe reset the count")
        #expect(machine.unreachableSince == nil)
        #expect(machine.waitLimitPassed(request, at: at(3010)) == .probe)
        #expect(machine.probeAnswered(request, .unanswered, at: at(3510)) == .refuseAsUnreachable, "two in a row")
        #expect(machine.unreachableSince == at(3510))
    }

    @Test func eachRequestCountsItsOwnUnansweredProbes() {
        var machine = DatabaseReachability()
        let (first, _) = machine.requestArrived(at: at(0))
        let (second, _) = machine.requestArrived(at: at(100))
        #expect(machine.waitLimitPassed(first, at: at(500)) == .probe)
        #expect(machine.probeAnswered(first, .unanswered, at: at(1000)) == .keepWaiting)
        #expect(machine.waitLimitPassed(second, at: at(600)) == .probe)
        #expect(machine.probeAnswered(second, .unanswered, at: at(1100)) == .keepWaiting, "the first request's probe is not the second's")
        #expect(machine.waitLimitPassed(first, at: at(1500)) == .probe)
        #expect(machine.probeAnswered(first, .unanswered, at: at(2000)) == .refuseAsUnreachable)
    }

    @Test func aRecentLeaseSkipsTheProbeAndKeepsTheCount() {
        var machine = DatabaseReachability()
        let (busy, _) = machine.requestArrived(at: at(0))
        let (waiting, _) = machine.requestArrived(at: at(0))
        #expect(machine.waitLimitPassed(waiting, at: at(500)) == .probe)
        #expect(machine.probeAnswered(waiting, .unanswered, at: at(1000)) == .keepWaiting)
        #expect(machine.connectionLeased(busy, at: at(1200)) == .useConnection)
        machine.requestEnded(busy)
        #expect(machine.waitLimitPassed(waiting, at: at(1500)) == .keepWaiting, "leased 300 ms ago: busy, not cut off")
        #expect(machine.waitLimitPassed(waiting, at: at(2100)) == .keepWaiting, "900 ms ago")
        #expect(machine.waitLimitPassed(waiting, at: at(2600)) == .probe, "1.4 s ago")
        #expect(machine.probeAnswered(waiting, .unanswered, at: at(3100)) == .refuseAsUnreachable, "the skipped waits did not reset the count")
    }

    @Test func aProbeAnsweredAfterTheLeaseChangesNothing() {
        var machine = DatabaseReachability()
        let (request, _) = machine.requestArrived(at: at(0))
        #expect(machine.waitLimitPassed(request, at: at(500)) == .probe)
        #expect(machine.connectionLeased(request, at: at(700)) == .useConnection)
        #expect(machine.probeAnswered(request, .refused, at: at(1000)) == .stopWaiting)
        #expect(machine.unreachableSince == nil)
    }

    @Test func onceUnreachableRequestsProbeFirstAndAnythingButAcceptedRefusesAtOnce() {
        var machine = foundUnreachable()
        let (unanswered, arrival) = machine.requestArrived(at: at(600))
        #expect(arrival == .probe)
        #expect(machine.probeAnswered(unanswered, .unanswered, at: at(1100)) == .refuseAsUnreachable, "on arrival, one unanswered probe is enough")
        machine.requestEnded(unanswered)
        let (refused, _) = machine.requestArrived(at: at(1200))
        #expect(machine.probeAnswered(refused, .refused, at: at(1201)) == .refuseAsUnreachable)
        machine.requestEnded(refused)
        #expect(machine.unreachableSince == at(500), "refusals on arrival keep the first time")
        #expect(machine.requestCount == 0)
    }

    @Test func anAcceptedProbeOnArrivalWaitsAndTheNextLeaseEndsTheOutage() {
        var machine = foundUnreachable()
        let (request, arrival) = machine.requestArrived(at: at(5000))
        #expect(arrival == .probe)
        #expect(machine.probeAnswered(request, .accepted, at: at(5001)) == .keepWaiting, "PostgreSQL is back: wait for a connection")
        #expect(machine.unreachableSince != nil, "until a connection is leased")
        #expect(machine.waitLimitPassed(request, at: at(5501)) == .probe)
        #expect(machine.probeAnswered(request, .unanswered, at: at(6001)) == .keepWaiting, "waiting again, one unanswered probe does not refuse")
        #expect(machine.connectionLeased(request, at: at(6100)) == .useConnection)
        #expect(machine.unreachableSince == nil)
        machine.requestEnded(request)
        #expect(machine.requestArrived(at: at(9000)).1 == .waitForConnection)
    }

    @Test func onceUnreachableARecentLeaseStillSkipsTheFirstProbe() {
        // A 5 s window: a request leased at 0, another refused at 1.5 s (a refused probe).
        var machine = DatabaseReachability(recentLeaseWindow: .seconds(5))
        let (leased, _) = machine.requestArrived(at: at(0))
        let (refused, _) = machine.requestArrived(at: at(0))
        #expect(machine.connectionLeased(leased, at: at(0)) == .useConnection)
        #expect(machine.waitLimitPassed(refused, at: at(500)) == .keepWaiting)
        #expect(machine.probeAnswered(refused, .refused, at: at(1500)) == .refuseAsUnreachable)
        #expect(machine.unreachableSince == at(1500))
        #expect(machine.requestArrived(at: at(2000)).1 == .waitForConnection, "leased 2 s ago, within the window: no probe first")
        #expect(machine.requestArrived(at: at(6000)).1 == .probe)
    }
}

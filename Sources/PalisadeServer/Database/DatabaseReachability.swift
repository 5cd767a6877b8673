/// Whether PostgreSQL is reachable, as this replica's requests for a pooled connection find
/// it: a pure state machine. `PostgresBackend.withBoundedConnection` feeds it events (a request
/// arriving, a connection leased, a wait limit passed, a probe answered, a request ended) and
/// does what it answers (wait for a connection, probe the port, refuse the request as
/// unreachable). It reads no clock and opens no socket: times come with the events.
///
/// The rules (see `PostgresBackend.connectionWaitLimit`): a request waits for a pooled
/// connection, and each time it has waited the limit more, PostgreSQL's port is probed, unless
/// the pool handed a connection out within `recentLeaseWindow` (the pool is busy, not cut off).
/// A refused probe refuses the request at once; probes not answered in time refuse it only
/// after `unansweredProbesForUnreachable` in a row (a saturated event loop may not complete
/// even a loopback connect); an accepted probe means the pool is only busy, and the request
/// keeps waiting. Once a request has been refused, requests probe before they wait, and are
/// refused at once unless the probe is accepted, until a connection is leased again.
struct DatabaseReachability: Sendable {
    struct RequestID: Hashable, Sendable {
        fileprivate let value: Int
    }

    /// A TCP connect to PostgreSQL's port.
    enum ProbeResult: Sendable, Equatable { case accepted, refused, unanswered }

    /// What a request does first: wait for a pooled connection, or probe before it waits.
    enum ArrivalAction: Sendable, Equatable { case waitForConnection, probe }

    /// What a waiting request does once it has waited the limit once more. `stopWaiting`: it
    /// has its answer already (a connection, or refused), so its timer ends.
    enum WaitAction: Sendable, Equatable { case keepWaiting, probe, stopWaiting }

    /// What a request does with a probe's answer. `keepWaiting` after the probe made on
    /// arrival: start waiting for a connection.
    enum ProbeAction: Sendable, Equatable { case keepWaiting, refuseAsUnreachable, stopWaiting }

    /// What a request does with a connection the pool leased it: use it, or hand it back and
    /// fail, when the request was refused meanwhile.
    enum LeaseAction: Sendable, Equatable { case useConnection, refuseAsUnreachable }

    private enum Request: Sendable, Equatable {
        /// Probing before it waits (PostgreSQL was found unreachable before).
        case probingFirst
        /// Waiting for a connection, after this many unanswered probes in a row.
        case waiting(unansweredProbes: Int)
        case leased
        case refused
    }

    let unansweredProbesForUnreachable: Int
    let recentLeaseWindow: Duration
    /// Set when a request was refused as unreachable, cleared by the next lease.
    private(set) var unreachableSince: ContinuousClock.Instant?
    /// When the pool last leased a connection to a request.
    private(set) var lastLeased: ContinuousClock.Instant?
    private var requests: [RequestID: Request] = [:]
    private var nextRequest = 0

    init(unansweredProbesForUnreachable: Int = PostgresBackend.unansweredProbesForUnreachable,
         recentLeaseWindow: Duration = PostgresBackend.recentLeaseWindow) {
        self.unansweredProbesForUnreachable = unansweredProbesForUnreachable
        self.recentLeaseWindow = recentLeaseWindow
    }

    /// Requests between `requestArrived` and `requestEnded`.
    var requestCount: Int { requests.count }

    private func leasedRecently(at now: ContinuousClock.Instant) -> Bool {
        lastLeased.map { now - $0 < recentLeaseWindow } ?? false
    }

    mutating func requestArrived(at now: ContinuousClock.Instant) -> (RequestID, ArrivalAction) {
        let id = RequestID(value: nextRequest)
        nextRequest += 1
        if unreachableSince != nil, !leasedRecently(at: now) {
            requests[id] = .probingFirst
            return (id, .probe)
        }
        requests[id] = .waiting(unansweredProbes: 0)
        return (id, .waitForConnection)
    }

    mutating func waitLimitPassed(_ id: RequestID, at now: ContinuousClock.Instant) -> WaitAction {
        switch requests[id] {
        case .waiting:
            // A pool that leased a connection lately is busy, not cut off: no probe.
            return leasedRecently(at: now) ? .keepWaiting : .probe
        case .probingFirst:
            return .keepWaiting
        case .leased, .refused, nil:
            return .stopWaiting
        }
    }

    mutating func probeAnswered(_ id: RequestID, _ result: ProbeResult, at now: ContinuousClock.Instant) -> ProbeAction {
        switch requests[id] {
        case .probingFirst:
            guard result == .accepted else {
                requests[id] = .refused
                return .refuseAsUnreachable
            }
            requests[id] = .waiting(unansweredProbes: 0)
            return .keepWaiting
        case .waiting(let unanswered):
            switch result {
            case .accepted:
                requests[id] = .waiting(unansweredProbes: 0)
                return .keepWaiting
            case .unanswered where unanswered + 1 < unansweredProbesForUnreachable:
                // No answer may be a saturated event loop, not a dead server: only several in
                // a row count (a refusal counts at once).
                requests[id] = .waiting(unansweredProbes: unanswered + 1)
                return .keepWaiting
            case .unanswered, .refused:
                requests[id] = .refused
                unreachableSince = unreachableSince ?? now
                return .refuseAsUnreachable
            }
        case .leased, .refused, nil:
            return .stopWaiting
        }
    }

    mutating func connectionLeased(_ id: RequestID, at now: ContinuousClock.Instant) -> LeaseAction {
        switch requests[id] {
        case .waiting, .probingFirst:
            requests[id] = .leased
            unreachableSince = nil
            lastLeased = now
            return .useConnection
        case .leased, .refused, nil:
            return .refuseAsUnreachable
        }
    }

    mutating func requestEnded(_ id: RequestID) {
        requests.removeValue(forKey: id)
    }
}

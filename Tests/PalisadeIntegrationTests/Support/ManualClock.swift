import Foundation
import NIOConcurrencyHelpers
import PalisadeCore

/// A wall clock the test moves: server and agents of a test share one, so signed assertions
/// stay valid while the test jumps across a day boundary or past an expiry.
final class ManualClock: WallClock {
    private let current: NIOLockedValueBox<Date>

    init(_ start: Date = Date()) { current = NIOLockedValueBox(start) }

    var now: Date { current.withLockedValue { $0 } }

    func set(_ date: Date) { current.withLockedValue { $0 = date } }
    func advance(by seconds: TimeInterval) { current.withLockedValue { $0 = $0.addingTimeInterval(seconds) } }
}

import Foundation
import PalisadeCore
import Testing

/// A device's enrollment state and reason, from its facts.
@Suite struct EnrollmentStateTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000) // 2026-11-18T...Z
    func facts(_ change: (inout EnrollmentFacts) -> Void = { _ in }) -> EnrollmentFacts {
        var facts = EnrollmentFacts(platform: .linux, managedBy: .palisade, tags: [], isRetired: false, enrolledAt: now.addingTimeInterval(-40 * 86_400),
                                    lastCheckInAt: now.addingTimeInterval(-120))
        change(&facts)
        return facts
    }

    @Test func theMostImportantStateWinsWithItsReason() {
        let scope = EnforcementScope(platforms: [.linux: true, .macos: false, .windows: true, .windowsServer: true])
        func state(_ facts: EnrollmentFacts) -> (EnrollmentState, String) { facts.state(scope: scope, staleAfterDays: 7, now: now) }
        #expect(state(facts()) == (.enrolled, "last seen 2 minutes ago"))
        #expect(state(facts { $0.lastCheckInAt = nil; $0.enrolledAt = now.addingTimeInterval(-30) }) == (.enrolled, "enrolled just now; no check-in yet"))
        #expect(state(facts { $0.lastCheckInAt = now.addingTimeInterval(-86_400 * 8 - 5) }) == (.stale, "last seen 8 days ago; stale after 7 days"))
        #expect(state(facts { $0.lastCheckInAt = nil }) == (.stale, "enrolled 40 days ago and never checked in; stale after 7 days"))
        #expect(state(facts { $0.platform = .macos }).0 == .outOfScope)
        // Managed elsewhere says more than "out of scope", even on a platform switched off.
        #expect(state(facts { $0.platform = .macos; $0.managedBy = .mdm }).0 == .managedElsewhere)
        #expect(state(facts { $0.managedBy = .other; $0.pendingSince = now.addingTimeInterval(-86_400) }) ==
                (.pendingReenrollment, "enrolled again with a new key 1 day ago; waiting for an administrator's approval"))
        #expect(state(facts { $0.isRetired = true; $0.retiredAt = Date(timeIntervalSince1970: 1_795_000_000); $0.pendingSince = now }) ==
                (.retired, "retired by an administrator on 2026-11-18"))
    }

    @Test func takingOverAChannelMakesTheDeviceManaged() {
        let scope = EnforcementScope(takeOver: [.windows: true])
        #expect(facts { $0.platform = .windows; $0.managedBy = .mdm }.state(scope: scope, staleAfterDays: 30, now: now).state == .enrolled)
        #expect(facts { $0.platform = .macos; $0.managedBy = .mdm }.state(scope: scope, staleAfterDays: 30, now: now).state == .managedElsewhere)
    }

    @Test func relativeTimesReadNaturally() {
        #expect(EnrollmentFacts.ago(now.addingTimeInterval(-59), now: now) == "just now")
        #expect(EnrollmentFacts.ago(now.addingTimeInterval(-60), now: now) == "1 minute ago")
        #expect(EnrollmentFacts.ago(now.addingTimeInterval(-7_200), now: now) == "2 hours ago")
        #expect(EnrollmentFacts.ago(now.addingTimeInterval(-86_400 * 12), now: now) == "12 days ago")
    }
}

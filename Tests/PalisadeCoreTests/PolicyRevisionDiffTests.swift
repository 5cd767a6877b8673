import PalisadeCore
import Testing

/// The diff between two policy revisions, over pure values.
@Suite struct PolicyRevisionDiffTests {
    func content(_ revision: Int, name: String = "AV", description: String = "", _ settings: [String: JSONValue]) -> PolicyRevisionDiff.Content {
        .init(revision: revision, name: name, description: description, settings: settings)
    }

    @Test func settingsAddedRemovedAndChangedAreListedByIdWithOldAndNewValues() {
        let base = content(1, ["a.level": "high", "b.enabled": true, "c.list": ["x", "y"], "d.same": 3])
        let target = content(3, ["a.level": "normal", "c.list": ["x"], "d.same": 3, "e.new": false])
        let diff = PolicyRevisionDiff(policyId: "p", from: base, to: target)
        #expect(diff.revision == 3)
        #expect(diff.against == 1)
        #expect(diff.added == [.init(settingId: "e.new", value: false)])
        #expect(diff.removed == [.init(settingId: "b.enabled", value: true)])
        #expect(diff.changed == [
            .init(settingId: "a.level", oldValue: "high", newValue: "normal"),
            .init(settingId: "c.list", oldValue: ["x", "y"], newValue: ["x"]),
        ])
        #expect(diff.name == nil)
        #expect(diff.description == nil)
        #expect(!diff.isEmpty)
    }

    @Test func nameAndDescriptionChangesAreReportedOnlyWhenTheyChanged() {
        let diff = PolicyRevisionDiff(policyId: "p", from: content(1, name: "AV", description: "old", [:]), to: content(2, name: "AV prod", description: "old", [:]))
        #expect(diff.name == .init(oldValue: "AV", newValue: "AV prod"))
        #expect(diff.description == nil)
        #expect(diff.added.isEmpty && diff.removed.isEmpty && diff.changed.isEmpty)
    }

    @Test func aRevisionAgainstItselfOrAnEqualOneIsEmptyAndTheDirectionMatters() {
        let one = content(1, ["a": 1])
        let two = content(2, ["a": 2, "b": "x"])
        #expect(PolicyRevisionDiff(policyId: "p", from: one, to: one).isEmpty)
        #expect(PolicyRevisionDiff(policyId: "p", from: one, to: content(5, ["a": 1])).isEmpty)
        let forward = PolicyRevisionDiff(policyId: "p", from: one, to: two)
        let backward = PolicyRevisionDiff(policyId: "p", from: two, to: one)
        #expect(forward.added.map(\.settingId) == ["b"])
        #expect(backward.removed.map(\.settingId) == ["b"])
        #expect(forward.changed == [.init(settingId: "a", oldValue: 1, newValue: 2)])
        #expect(backward.changed == [.init(settingId: "a", oldValue: 2, newValue: 1)])
    }

    @Test func aWholeNumberEqualsTheSameIntegerWrittenAsANumber() {
        let diff = PolicyRevisionDiff(policyId: "p", from: content(1, ["n": .number(5), "o": ["k": .number(2)]]), to: content(2, ["n": 5, "o": ["k": 2]]))
        #expect(diff.isEmpty)
        let changed = PolicyRevisionDiff(policyId: "p", from: content(1, ["n": .number(5.5)]), to: content(2, ["n": 5]))
        #expect(changed.changed.map(\.settingId) == ["n"])
    }
}

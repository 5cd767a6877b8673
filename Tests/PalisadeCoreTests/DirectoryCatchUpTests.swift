import PalisadeCore
import Testing

/// How a replica catches its cached directory up with the database, decided from versions and
/// the change log alone.
@Suite struct DirectoryCatchUpTests {
    func entry(_ version: Int64, _ kind: String, _ id: String = "") -> LoggedDirectoryChange {
        LoggedDirectoryChange(version: version, kind: kind, entityId: id)
    }

    @Test func nothingCachedLoads() {
        #expect(DirectoryCatchUp.decide(cachedVersion: nil, currentVersion: 0, log: []) == .reload(.nothingCached))
        #expect(DirectoryCatchUp.decide(cachedVersion: nil, currentVersion: 7, log: [entry(7, "device", "d1")]) == .reload(.nothingCached))
    }

    @Test func aCurrentCacheIsUsedAsIs() {
        #expect(DirectoryCatchUp.decide(cachedVersion: 4, currentVersion: 4, log: []) == .useCached)
        #expect(DirectoryCatchUp.decide(cachedVersion: 0, currentVersion: 0, log: []) == .useCached)
    }

    @Test func loggedChangesOfEveryMissedVersionAreMergedAndApplied() {
        let log = [entry(5, "device", "d1"), entry(6, "group", "g1"), entry(6, "device", "d2"), entry(7, "policy", "p1"), entry(7, "scope")]
        #expect(DirectoryCatchUp.decide(cachedVersion: 4, currentVersion: 7, log: log)
            == .apply(DirectoryChanges(devices: ["d1", "d2"], groups: ["g1"], policies: ["p1"], scope: true)))
    }

    @Test func aVersionMissingFromTheLogLoadsTheTenant() {
        // Version 6 was pruned (or never logged): applying 5 and 7 alone would skip its change.
        let log = [entry(5, "device", "d1"), entry(7, "device", "d2")]
        #expect(DirectoryCatchUp.decide(cachedVersion: 4, currentVersion: 7, log: log) == .reload(.logIncomplete(missing: 1)))
        #expect(DirectoryCatchUp.decide(cachedVersion: 4, currentVersion: 7, log: []) == .reload(.logIncomplete(missing: 3)))
    }

    @Test func aLoggedRebuildLoadsTheTenant() {
        let log = [entry(5, "device", "d1"), entry(6, "rebuild")]
        #expect(DirectoryCatchUp.decide(cachedVersion: 4, currentVersion: 6, log: log) == .reload(.rebuildLogged))
    }

    @Test func anUnknownKindIsNeverGuessedAt() {
        // Before, any kind that was not device, group, policy or rebuild was read as a scope change.
        let log = [entry(5, "device", "d1"), entry(6, "certificate", "c1")]
        #expect(DirectoryCatchUp.decide(cachedVersion: 4, currentVersion: 6, log: log) == .reload(.unknownKind("certificate", version: 6)))
    }

    @Test func aCacheAheadOfTheDatabaseLoadsTheTenant() {
        // The database was restored from an older backup.
        #expect(DirectoryCatchUp.decide(cachedVersion: 9, currentVersion: 6, log: []) == .reload(.cacheAhead(cached: 9, current: 6)))
    }

    @Test func rowsCommittedAfterTheVersionWasReadAreIgnored() {
        let log = [entry(5, "device", "d1"), entry(6, "device", "d2")]
        #expect(DirectoryCatchUp.decide(cachedVersion: 4, currentVersion: 5, log: log) == .apply(DirectoryChanges(devices: ["d1"])))
    }

    @Test func everyChangeKindRoundTripsThroughTheLog() {
        let changes = DirectoryChanges(devices: ["d1", "d2"], groups: ["g1"], policies: ["p1"], scope: true)
        let log = changes.logEntries.map { LoggedDirectoryChange(version: 3, kind: $0.kind.rawValue, entityId: $0.entityId) }
        #expect(DirectoryCatchUp.decide(cachedVersion: 2, currentVersion: 3, log: log) == .apply(changes))
        #expect(Set(DirectoryChanges(rebuild: true).logEntries.map(\.kind)) == [.rebuild])
    }
}

/// Name, tag and inventory rules shared by every route that takes them.
@Suite struct InputRulesTests {
    @Test func namesAreTrimmedAndBounded() throws {
        #expect(try InputRules.name("  web servers \t") == "web servers")
        #expect(throws: InputProblem(field: "name", message: "name must be 1 to 200 characters")) { try InputRules.name("   ") }
        #expect(throws: InputProblem.self, "a form feed alone is no name (found by schemathesis)") { try InputRules.name("\u{0C}") }
        #expect(throws: InputProblem.self) { try InputRules.name(String(repeating: "a", count: 201)) }
        #expect(try InputRules.name(String(repeating: "a", count: 100), maximumLength: 100).count == 100)
    }

    @Test func tagsAreTrimmedDeduplicatedAndBounded() throws {
        #expect(try InputRules.tags([" prod ", "PROD", "\nlab\n", "prod"], field: "tags") == ["prod", "lab"])
        #expect(throws: InputProblem(field: "tags[1]", message: "tags[1] must be 1 to 100 characters")) { try InputRules.tags(["ok", " \n "], field: "tags") }
        #expect(throws: InputProblem.self) { try InputRules.tags(Array(repeating: "t", count: 51), field: "tags") }
    }

    @Test func onlyFactsRulesReadMakeAnInventoryChange() {
        let inventory = DeviceProtocol.Inventory(hostname: "web-01", platform: .linux, osVersion: "12", hardwareId: "hw", agentVersion: "1.0", mdmEnrolled: false, tags: ["a"])
        var moved = inventory
        moved.defenderInstalled = true
        #expect(moved.facts == inventory.facts, "Defender presence is not a rule attribute")
        moved.osVersion = "13"
        #expect(moved.facts != inventory.facts)
        var managed = inventory
        managed.defenderManagedElsewhere = true
        #expect(managed.facts.managedBy == .other, "on Linux a foreign managed file is another channel")
        managed.platform = .macos
        #expect(managed.managementChannel == .mdm)
    }
}

import Foundation
import Hummingbird
import PalisadeCore

/// Devices: the list with search and filters, and the device page (Defender presence, groups,
/// every setting with its value, state and why, history, actions).
extension AdminCenter {
    func addDevicePages(to pages: PageRoutes) {
        pages.get("devices", .readDevices) { page in try await deviceList(page) }
        pages.get("devices/:id", .readDevices) { page in try await devicePage(page) }
        pages.post("devices/:id/tags", .manageDeviceTags, form: DeviceTagsForm.self) { page, form in
            let id = try page.parameter("id")
            let tags = form.tags.split(whereSeparator: { $0 == "," || $0.isNewline }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            do {
                _ = try await devices.setTags(tenant: page.tenant, by: page.actor, device: id, tags: tags)
            } catch {
                guard let error = PalisadeError.refusal(error), error.status == .badRequest else { throw error }
                return try await devicePage(page, tagError: error.message, tagsText: form.tags)
            }
            return page.redirect("/devices/\(id)", notice: .saved)
        }
        pages.post("devices/:id/retire", .retireDevices) { page, _ in
            let id = try page.parameter("id")
            try await devices.retire(tenant: page.tenant, by: page.actor, id: id)
            return page.redirect("/devices/\(id)", notice: .retired)
        }
        pages.post("devices/:id/approve-reenrollment", .approveReenrollment) { page, _ in
            let id = try page.parameter("id")
            _ = try await devices.approveReenrollment(tenant: page.tenant, by: page.actor, device: id)
            return page.redirect("/devices/\(id)", notice: .approved)
        }
    }

    func deviceList(_ page: SignedInPage) async throws -> Response {
        let filter = try DeviceFilter(page)
        let result = try await devices.devices(tenant: page.tenant, filter: filter, limit: 50, after: page.query("cursor"))
        let groups = try await groups.groups(tenant: page.tenant, limit: 1000, after: nil).items
        let rows = result.items.map { device in
            DeviceListPage.Row(
                id: device.id, name: device.name, platform: device.platform.title, os: device.osVersion,
                lastSeen: Show.time(device.lastCheckInAt), stale: device.stale == true,
                status: Self.deviceStatusText(device), tags: (device.tags + device.agentTags).joined(separator: ", "),
                defender: Self.defenderText(device),
                state: device.reportState?.rawValue, stateTitle: device.reportState?.title)
        }
        return page.render(DeviceListPage(
            devices: rows, empty: rows.isEmpty,
            search: filter.search ?? "", tag: filter.tag ?? "",
            platforms: DevicePlatform.allCases.map { Choice(value: $0.rawValue, label: $0.title, selected: filter.platform == $0) },
            states: SettingState.allCases.map { Choice(value: $0.rawValue, label: $0.title, selected: filter.state == $0) },
            groups: groups.map { Choice(value: $0.id, label: $0.name, selected: filter.group == $0.id) },
            next: result.nextCursor.map { filter.query(cursor: $0) },
            filtered: !filter.isEmpty), title: "Devices")
    }

    func devicePage(_ page: SignedInPage, tagError: String? = nil, tagsText: String? = nil) async throws -> Response {
        let id = try page.parameter("id")
        let device = try await devices.device(tenant: page.tenant, id: id)
        let statuses = page.may(.readReports) ? try await devices.settingStatuses(tenant: page.tenant, device: id).sorted { $0.settingId < $1.settingId } : []
        let groups = try await groups.groupsOfDevice(tenant: page.tenant, device: id)
        let groupNames = Dictionary(uniqueKeysWithValues: groups.map { ($0.id, $0.name) })
        let history = page.may(.readReports) ? try await devices.history(tenant: page.tenant, device: id, limit: 50, after: nil).items : []
        let drift = page.may(.readReports) ? try await devices.driftEvents(tenant: page.tenant, device: id, limit: 20, after: nil).items : []
        let settings = statuses.map { status in
            DevicePage.Setting(
                id: status.settingId, value: status.value.map(Show.json) ?? "(withheld)", state: status.state.rawValue,
                stateTitle: status.state.title, detail: status.detail,
                why: status.policies.map { policy in
                    DevicePage.Why(policyId: policy.id, policy: policy.name, revision: policy.revision,
                                   groups: Show.text(policy.groupIds.map { groupNames[$0] ?? $0 }.joined(separator: ", ")))
                },
                competing: (status.competingValues ?? []).map { competing in
                    DevicePage.Competing(value: Show.json(competing.value), policies: competing.policies.map(\.name).joined(separator: ", "))
                })
        }
        var facts: [Fact] = [
            Fact(label: "Platform", value: "\(device.platform.title) \(device.osVersion)"),
            Fact(label: "Enrollment", value: Self.deviceStatusText(device)),
            Fact(label: "Management", value: device.management.map { $0.state == .managed ? "managed by Palisade" : "not managed: \($0.reason ?? "excluded")" } ?? "unknown"),
            Fact(label: "Managed by channel", value: device.managedBy.rawValue),
            Fact(label: "Defender", value: Self.defenderText(device)),
            Fact(label: "Agent version", value: device.agentVersion),
            Fact(label: "Enrolled", value: Show.time(device.enrolledAt)),
            Fact(label: "Last check-in", value: Show.time(device.lastCheckInAt) + (device.stale == true ? " (stale)" : "")),
            Fact(label: "Hardware id", value: device.hardwareId),
            Fact(label: "Agent tags", value: device.agentTags.isEmpty ? "none" : device.agentTags.joined(separator: ", ")),
        ]
        facts += Self.defenderFacts(device.defender)
        if let requested = device.syncRequestedAt {
            facts.append(Fact(label: "Sync", value: "requested \(Show.time(requested)); waiting for the device to report"))
        }
        if let pending = device.pendingReenrollment {
            facts.append(Fact(label: "Pending re-enrollment", value: "since \(Show.time(pending.since)) from \(pending.sourceAddress ?? "unknown"), key SHA-256 \(pending.publicKeySHA256)"))
        }
        return page.render(DevicePage(
            device: .init(id: device.id, name: device.name),
            facts: facts,
            groups: groups.map { .init(id: $0.id, name: $0.name, dynamic: $0.membershipRule != nil) },
            noGroups: groups.isEmpty,
            settings: settings, noSettings: settings.isEmpty, readReports: page.may(.readReports),
            history: history.map(Self.historyRow), noHistory: history.isEmpty,
            drift: drift.map(Self.driftRow), noDrift: drift.isEmpty,
            tags: Show.text(tagsText ?? device.tags.joined(separator: ", ")), tagError: tagError,
            canTag: page.may(.manageDeviceTags), canSync: page.may(.syncDevices),
            canRetire: page.may(.retireDevices) && device.enrollmentStatus != .retired,
            canApprove: page.may(.approveReenrollment) && device.pendingReenrollment != nil),
            title: device.name, status: tagError == nil ? .ok : .badRequest)
    }

    static func historyRow(_ event: DeviceHistoryEvent) -> DevicePage.HistoryRow {
        DevicePage.HistoryRow(
            at: Show.time(event.at), subject: event.subjectName, kind: event.kind.rawValue,
            from: event.oldState, to: event.newState, revision: event.revision.map(String.init) ?? "",
            reason: event.reason)
    }

    static func deviceStatusText(_ device: Device) -> String {
        if device.enrollmentStatus == .retired { return "retired" }
        if device.pendingReenrollment != nil { return "pending re-enrollment" }
        if device.stale == true { return "stale" }
        if device.management?.state == .excluded { return "out of scope" }
        return "enrolled"
    }

    static func defenderText(_ device: Device) -> String {
        if let summary = device.defenderSummary { return summary }
        switch device.defenderInstalled {
        case true?: return "installed"
        case false?: return "Defender not installed"
        case nil: return "not reported yet"
        }
    }

    /// What the agent last read from Defender itself (`mdatp health`, `Get-MpComputerStatus`).
    static func defenderFacts(_ status: DefenderStatus?) -> [Fact] {
        guard let status, status.installed else { return [] }
        func yesNo(_ value: Bool?) -> String { value.map { $0 ? "yes" : "no" } ?? "not reported" }
        var facts: [Fact] = [
            Fact(label: "Defender version", value: status.version ?? "not reported"),
            Fact(label: "Healthy", value: yesNo(status.healthy) + ((status.healthIssues ?? []).isEmpty ? "" : ": " + status.healthIssues!.joined(separator: "; "))),
            Fact(label: "Real-time protection", value: yesNo(status.realTimeProtectionEnabled)),
            Fact(label: "Definitions", value: [status.definitionsVersion, status.definitionsStatus, status.definitionsUpdatedAt.map { "updated \($0)" }].compactMap { $0 }.joined(separator: ", ")),
            Fact(label: "Onboarded to organization", value: status.organizationId ?? "not onboarded"),
            Fact(label: "Passive mode", value: yesNo(status.passiveMode)),
            Fact(label: "Tamper protection", value: status.tamperProtection ?? "not reported"),
        ]
        if let detail = status.detail { facts.append(Fact(label: "Note", value: detail)) }
        return facts
    }
}

/// The device list's filters, read from the query and written back into paging links.
extension DeviceFilter {
    init(_ page: SignedInPage) throws {
        self.init(search: page.query("search"), tag: page.query("tag"), group: page.query("group"))
        if let text = page.query("platform") {
            guard let platform = DevicePlatform(rawValue: text) else { throw PalisadeError.invalid("platform must be one of \(DevicePlatform.allCases.map(\.rawValue).joined(separator: ", "))", field: "platform") }
            self.platform = platform
        }
        if let text = page.query("state") {
            guard let state = SettingState(rawValue: text) else { throw PalisadeError.invalid("state must be one of \(SettingState.allCases.map(\.rawValue).joined(separator: ", "))", field: "state") }
            self.state = state
        }
    }

    var isEmpty: Bool { search == nil && platform == nil && state == nil && tag == nil && group == nil }

    func query(cursor: String) -> String {
        "/devices?" + Show.query([("search", search), ("platform", platform?.rawValue), ("state", state?.rawValue), ("tag", tag), ("group", group),
                                  ("cursor", cursor)])
    }
}

/// The device list (`devices.mustache`): filters, one row per device, paging.
struct DeviceListPage: PageModel {
    static let template = "devices"

    struct Row: Sendable {
        let id: String
        let name: String
        let platform: String
        let os: String
        let lastSeen: String
        let stale: Bool
        let status: String
        let tags: String
        let defender: String
        /// The device's report state (`SettingState`), nil before it reports.
        let state: String?
        let stateTitle: String?
    }

    var csrf = ""
    let devices: [Row]
    let empty: Bool
    let search: String
    let tag: String
    let platforms: [Choice]
    let states: [Choice]
    let groups: [Choice]
    /// The next page's link, with the filters.
    let next: String?
    let filtered: Bool
}

/// A device's page (`device.mustache`): facts, tags, groups, and for those who read reports
/// every setting with its value, state and why, the history and the drift.
struct DevicePage: PageModel {
    static let template = "device"

    struct Device: Sendable {
        let id: String
        let name: String
    }

    struct Group: Sendable {
        let id: String
        let name: String
        let dynamic: Bool
    }

    struct Setting: Sendable {
        let id: String
        let value: String
        let state: String
        let stateTitle: String
        let detail: String?
        let why: [Why]
        let competing: [Competing]
    }

    /// A policy that sets the setting on this device, and the groups through which it does.
    struct Why: Sendable {
        let policyId: String
        let policy: String
        let revision: Int
        let groups: String?
    }

    /// A value another policy sets for the same setting (a conflict).
    struct Competing: Sendable {
        let value: String
        let policies: String
    }

    struct HistoryRow: Sendable {
        let at: String
        let subject: String
        let kind: String
        let from: String?
        let to: String?
        let revision: String
        let reason: String
    }

    var csrf = ""
    let device: Device
    let facts: [Fact]
    let groups: [Group]
    let noGroups: Bool
    let settings: [Setting]
    let noSettings: Bool
    let readReports: Bool
    let history: [HistoryRow]
    let noHistory: Bool
    let drift: [DriftRow]
    let noDrift: Bool
    /// The admin tags, as the form shows them (what was typed, after a refusal).
    let tags: String?
    let tagError: String?
    let canTag: Bool
    let canSync: Bool
    let canRetire: Bool
    let canApprove: Bool
}

/// A label and its value (the device page's facts).
struct Fact: Sendable {
    let label: String
    let value: String
}

/// The device page's tags form.
struct DeviceTagsForm: Decodable, Sendable {
    /// Comma or line separated.
    @FormText var tags: String
}

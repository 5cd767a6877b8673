import Foundation
import Hummingbird
import PalisadeCore

/// Devices: the list with search and filters, and the device page (Defender presence, groups,
/// every setting with its value, state and why, history, actions).
extension AdminCenter {
    func addDevicePages(to pages: PageRoutes) {
        pages.get("devices", .readDevices) { page in try await deviceList(page) }
        pages.get("devices/:id", .readDevices) { page in try await devicePage(page) }
        pages.post("devices/:id/tags", .manageDeviceTags) { page, form in
            let id = try page.parameter("id")
            let tags = (form["tags"] ?? "").split(whereSeparator: { $0 == "," || $0.isNewline }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            do {
                _ = try await devices.setTags(tenant: page.tenant, by: page.actor, device: id, tags: tags)
            } catch {
                guard let error = PalisadeError.refusal(error), error.status == .badRequest else { throw error }
                return try await devicePage(page, tagError: error.message, tagsText: form["tags"] ?? "")
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
        let rows: [[String: Any]] = result.items.map { device in
            [
                "id": device.id, "name": device.name, "platform": device.platform.title, "os": device.osVersion,
                "lastSeen": Show.time(device.lastCheckInAt), "stale": device.stale == true,
                "status": Self.deviceStatusText(device), "tags": (device.tags + device.agentTags).joined(separator: ", "),
                "defender": Self.defenderText(device),
                "state": device.reportState?.rawValue as Any, "stateTitle": device.reportState?.title as Any,
            ]
        }
        return page.render("devices", title: "Devices", [
            "devices": rows, "empty": rows.isEmpty,
            "search": filter.search ?? "", "tag": filter.tag ?? "",
            "platforms": DevicePlatform.allCases.map { ["value": $0.rawValue, "label": $0.title, "selected": filter.platform == $0] },
            "states": SettingState.allCases.map { ["value": $0.rawValue, "label": $0.title, "selected": filter.state == $0] },
            "groups": groups.map { ["value": $0.id, "label": $0.name, "selected": filter.group == $0.id] },
            "next": result.nextCursor.map { filter.query(cursor: $0) } as Any,
            "filtered": !filter.isEmpty,
        ])
    }

    func devicePage(_ page: SignedInPage, tagError: String? = nil, tagsText: String? = nil) async throws -> Response {
        let id = try page.parameter("id")
        let device = try await devices.device(tenant: page.tenant, id: id)
        let statuses = page.may(.readReports) ? try await devices.settingStatuses(tenant: page.tenant, device: id).sorted { $0.settingId < $1.settingId } : []
        let groups = try await groups.groupsOfDevice(tenant: page.tenant, device: id)
        let groupNames = Dictionary(uniqueKeysWithValues: groups.map { ($0.id, $0.name) })
        let history = page.may(.readReports) ? try await devices.history(tenant: page.tenant, device: id, limit: 50, after: nil).items : []
        let drift = page.may(.readReports) ? try await devices.driftEvents(tenant: page.tenant, device: id, limit: 20, after: nil).items : []
        let settings: [[String: Any]] = statuses.map { status in
            [
                "id": status.settingId, "value": status.value.map(Show.json) ?? "(withheld)", "state": status.state.rawValue,
                "stateTitle": status.state.title, "detail": status.detail as Any,
                "why": status.policies.map { policy in
                    ["policyId": policy.id, "policy": policy.name, "revision": policy.revision,
                     "groups": Show.text(policy.groupIds.map { groupNames[$0] ?? $0 }.joined(separator: ", ")) as Any] as [String: Any]
                },
                "competing": (status.competingValues ?? []).map { competing in
                    ["value": Show.json(competing.value), "policies": competing.policies.map(\.name).joined(separator: ", ")] as [String: Any]
                },
            ]
        }
        var facts: [[String: Any]] = [
            ["label": "Platform", "value": "\(device.platform.title) \(device.osVersion)"],
            ["label": "Enrollment", "value": Self.deviceStatusText(device)],
            ["label": "Management", "value": device.management.map { $0.state == .managed ? "managed by Palisade" : "not managed: \($0.reason ?? "excluded")" } ?? "unknown"],
            ["label": "Managed by channel", "value": device.managedBy.rawValue],
            ["label": "Defender", "value": Self.defenderText(device)],
            ["label": "Agent version", "value": device.agentVersion],
            ["label": "Enrolled", "value": Show.time(device.enrolledAt)],
            ["label": "Last check-in", "value": Show.time(device.lastCheckInAt) + (device.stale == true ? " (stale)" : "")],
            ["label": "Hardware id", "value": device.hardwareId],
            ["label": "Agent tags", "value": device.agentTags.isEmpty ? "none" : device.agentTags.joined(separator: ", ")],
        ]
        facts += Self.defenderFacts(device.defender)
        if let requested = device.syncRequestedAt {
            facts.append(["label": "Sync", "value": "requested \(Show.time(requested)); waiting for the device to report"])
        }
        if let pending = device.pendingReenrollment {
            facts.append(["label": "Pending re-enrollment", "value": "since \(Show.time(pending.since)) from \(pending.sourceAddress ?? "unknown"), key SHA-256 \(pending.publicKeySHA256)"])
        }
        return page.render("device", title: device.name, [
            "device": ["id": device.id, "name": device.name],
            "facts": facts,
            "groups": groups.map { ["id": $0.id, "name": $0.name, "dynamic": $0.membershipRule != nil] },
            "noGroups": groups.isEmpty,
            "settings": settings, "noSettings": settings.isEmpty, "readReports": page.may(.readReports),
            "history": history.map(Self.historyRow), "noHistory": history.isEmpty,
            "drift": drift.map(Self.driftRow), "noDrift": drift.isEmpty,
            "tags": Show.text(tagsText ?? device.tags.joined(separator: ", ")) as Any, "tagError": tagError as Any,
            "canTag": page.may(.manageDeviceTags), "canSync": page.may(.syncDevices),
            "canRetire": page.may(.retireDevices) && device.enrollmentStatus != .retired,
            "canApprove": page.may(.approveReenrollment) && device.pendingReenrollment != nil,
        ], status: tagError == nil ? .ok : .badRequest)
    }

    static func historyRow(_ event: DeviceHistoryEvent) -> [String: Any] {
        [
            "at": Show.time(event.at), "subject": event.subjectName, "kind": event.kind.rawValue,
            "from": event.oldState as Any, "to": event.newState as Any, "revision": event.revision.map(String.init) ?? "",
            "reason": event.reason,
        ]
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
    static func defenderFacts(_ status: DefenderStatus?) -> [[String: Any]] {
        guard let status, status.installed else { return [] }
        func yesNo(_ value: Bool?) -> String { value.map { $0 ? "yes" : "no" } ?? "not reported" }
        var facts: [[String: Any]] = [
            ["label": "Defender version", "value": status.version ?? "not reported"],
            ["label": "Healthy", "value": yesNo(status.healthy) + ((status.healthIssues ?? []).isEmpty ? "" : ": " + status.healthIssues!.joined(separator: "; "))],
            ["label": "Real-time protection", "value": yesNo(status.realTimeProtectionEnabled)],
            ["label": "Definitions", "value": [status.definitionsVersion, status.definitionsStatus, status.definitionsUpdatedAt.map { "updated \($0)" }].compactMap { $0 }.joined(separator: ", ")],
            ["label": "Onboarded to organization", "value": status.organizationId ?? "not onboarded"],
            ["label": "Passive mode", "value": yesNo(status.passiveMode)],
            ["label": "Tamper protection", "value": status.tamperProtection ?? "not reported"],
        ]
        if let detail = status.detail { facts.append(["label": "Note", "value": detail]) }
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

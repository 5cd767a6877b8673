import Foundation
import Hummingbird
import PalisadeCore

/// Revisions (diff and rollback, previewed first), Sync now, and the enrollment report.
extension AdminCenter {
    func addRevisionAndSyncPages(to pages: PageRoutes) {
        pages.get("policies/:id/revisions/:revision", .readPolicies) { page in try await revisionDiffPage(page) }
        pages.post("policies/:id/rollback", .managePolicies, form: RollbackForm.self) { page, form in
            let id = try page.parameter("id")
            guard let revision = Int(form.revision) else {
                throw PalisadeError.invalid("revision must be a revision number", field: "revision")
            }
            if form.action == "confirm" {
                _ = try await policies.rollback(tenant: page.tenant, by: page.actor, policy: id, to: revision)
                return page.redirect("/policies/\(id)", notice: .rolledBack)
            }
            let policy = try await policies.policy(tenant: page.tenant, id: id)
            let preview = try await policies.previewRollback(tenant: page.tenant, policy: id, to: revision)
            let diff = try await policies.diff(tenant: page.tenant, policy: id, revision: revision, against: policy.revision)
            return page.render(RevisionDiffPage(diff, policy: policy, rollback: .init(revision: revision, preview: PreviewData(preview)), canRollback: true),
                               title: "Roll back \(policy.name) to revision \(revision)")
        }
        pages.post("devices/:id/sync", .syncDevices) { page, _ in
            let id = try page.parameter("id")
            _ = try await devices.sync(tenant: page.tenant, by: page.actor, device: id)
            return page.redirect("/devices/\(id)", notice: .synced)
        }
        pages.post("groups/:id/sync", .syncDevices) { page, _ in
            let id = try page.parameter("id")
            _ = try await devices.sync(tenant: page.tenant, by: page.actor, group: id)
            return page.redirect("/groups/\(id)", notice: .synced)
        }
        pages.get("reports/enrollment", .readReports) { page in try await enrollmentReportPage(page) }
    }

    func revisionDiffPage(_ page: SignedInPage) async throws -> Response {
        let id = try page.parameter("id")
        guard let revision = Int(try page.parameter("revision")) else {
            throw PalisadeError.invalid("revision must be a revision number", field: "revision")
        }
        let against = try page.query("against").map { text in
            guard let number = Int(text) else { throw PalisadeError.invalid("against must be a revision number", field: "against") }
            return number
        }
        let policy = try await policies.policy(tenant: page.tenant, id: id)
        let diff = try await policies.diff(tenant: page.tenant, policy: id, revision: revision, against: against)
        return page.render(RevisionDiffPage(diff, policy: policy, rollback: nil, canRollback: page.may(.managePolicies) && revision != policy.revision),
                           title: "Revision \(revision) of \(policy.name)")
    }

    func enrollmentReportPage(_ page: SignedInPage) async throws -> Response {
        let state = try page.query("state").map { text in
            guard let state = EnrollmentState(rawValue: text) else {
                throw PalisadeError.invalid("state must be one of \(EnrollmentState.allCases.map(\.rawValue).joined(separator: ", "))", field: "state")
            }
            return state
        }
        let report = try await reports.enrollmentReport(tenant: page.tenant, state: state, limit: 100, after: page.query("cursor"))
        let refused = try await reports.refusedEnrollments(tenant: page.tenant, limit: 50, after: nil)
        let summary = report.summary
        let counts: [(EnrollmentState, Int)] = [(.enrolled, summary.enrolled), (.pendingReenrollment, summary.pendingReenrollment), (.stale, summary.stale),
                                                (.outOfScope, summary.outOfScope), (.managedElsewhere, summary.managedElsewhere), (.retired, summary.retired)]
        return page.render(EnrollmentReportPage(
            counts: counts.map { .init(state: $0.0.rawValue, label: Self.enrollmentTitle($0.0), count: $0.1, selected: $0.0 == state) },
            chart: Chart.bars(counts.map { (Self.enrollmentTitle($0.0), $0.1) }, label: "Devices by enrollment state", width: 560),
            devices: report.devices.map { row in
                .init(id: row.deviceId, name: row.deviceName, platform: row.platform.title, state: Self.enrollmentTitle(row.state),
                      reason: row.reason, defender: row.defender, lastSeen: Show.time(row.lastCheckInAt))
            },
            noDevices: report.devices.isEmpty,
            next: report.nextCursor.map { cursor in "/reports/enrollment?" + (state.map { "state=\($0.rawValue)&" } ?? "") + "cursor=\(cursor)" },
            refused: refused.items.map { attempt in
                .init(at: Show.time(attempt.at), source: attempt.sourceAddress ?? "unknown", hostname: attempt.hostname ?? "", code: attempt.code, reason: attempt.reason)
            },
            noRefused: refused.items.isEmpty,
            csv: "/api/v1/reports/enrollment?format=csv" + (state.map { "&state=\($0.rawValue)" } ?? "")), title: "Enrollment report")
    }

    static func enrollmentTitle(_ state: EnrollmentState) -> String {
        switch state {
        case .enrolled: "Enrolled"
        case .pendingReenrollment: "Pending re-enrollment"
        case .stale: "Stale"
        case .outOfScope: "Out of scope"
        case .managedElsewhere: "Managed by another channel"
        case .retired: "Retired"
        }
    }
}

/// A policy revision's changes from another (`revision-diff.mustache`), and the confirmation of
/// a rollback with its impact.
struct RevisionDiffPage: PageModel {
    static let template = "revision-diff"

    struct Change: Sendable {
        let old: String
        let new: String
    }

    struct Setting: Sendable {
        let id: String
        let value: String
    }

    struct ChangedSetting: Sendable {
        let id: String
        let old: String
        let new: String
    }

    /// A rollback to `revision`, previewed and waiting for confirmation.
    struct Rollback: Sendable {
        let revision: Int
        let preview: PreviewData
    }

    var csrf = ""
    let policyId: String
    let policyName: String
    let revision: Int
    let against: Int
    let nameChange: Change?
    let descriptionChange: Change?
    let added: [Setting]
    let removed: [Setting]
    let changed: [ChangedSetting]
    /// Nothing differs.
    let same: Bool
    let rollback: Rollback?
    let canRollback: Bool

    init(_ diff: PolicyRevisionDiff, policy: Policy, rollback: Rollback?, canRollback: Bool) {
        policyId = policy.id
        policyName = policy.name
        revision = diff.revision
        against = diff.against
        nameChange = diff.name.map { Change(old: $0.oldValue, new: $0.newValue) }
        descriptionChange = diff.description.map { Change(old: $0.oldValue, new: $0.newValue) }
        added = diff.added.map { Setting(id: $0.settingId, value: Show.json($0.value)) }
        removed = diff.removed.map { Setting(id: $0.settingId, value: Show.json($0.value)) }
        changed = diff.changed.map { ChangedSetting(id: $0.settingId, old: Show.json($0.oldValue), new: Show.json($0.newValue)) }
        same = diff.added.isEmpty && diff.removed.isEmpty && diff.changed.isEmpty && diff.name == nil && diff.description == nil
        self.rollback = rollback
        self.canRollback = canRollback
    }
}

/// The enrollment report (`enrollment-report.mustache`): devices by enrollment state, and
/// refused enrollment attempts.
struct EnrollmentReportPage: PageModel {
    static let template = "enrollment-report"

    struct Count: Sendable {
        let state: String
        let label: String
        let count: Int
        let selected: Bool
    }

    struct Device: Sendable {
        let id: String
        let name: String
        let platform: String
        let state: String
        let reason: String
        let defender: String
        let lastSeen: String
    }

    struct Refusal: Sendable {
        let at: String
        let source: String
        let hostname: String
        let code: String
        let reason: String
    }

    var csrf = ""
    let counts: [Count]
    /// SVG (`Chart`), inserted unescaped.
    let chart: String
    let devices: [Device]
    let noDevices: Bool
    let next: String?
    let refused: [Refusal]
    let noRefused: Bool
    let csv: String
}

/// The rollback form: a revision, previewed first (`action` "preview"), then confirmed.
struct RollbackForm: Decodable, Sendable {
    @FormText var revision: String
    @FormText var action: String
}

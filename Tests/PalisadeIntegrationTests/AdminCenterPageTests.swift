import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PalisadeCore
import PalisadeServer
import Testing

/// Every main page of the admin center over real HTTP with a signed-in session, on a tenant
/// with data in it (agents that checked in, a drift, a conflict, groups static, nested and
/// dynamic, policies with list and object-list settings, revisions, users, tokens): each page
/// answers 200 and shows one key piece of its content. The data is made through the pages'
/// own forms where there is one, so the forms are exercised too; the pages that answer a
/// refused form (400, the error beside its field) are checked as well.
///
/// With `PALISADE_PAGE_SNAPSHOTS=<directory>` every page is also written there, with ids,
/// times, ports and secrets replaced by placeholders, so that two builds can be compared
/// byte for byte (`diff -r`) before and after a change that must not alter the HTML (run with
/// `SWIFT_DETERMINISTIC_HASHING=1`, or the audit log's JSON changes its key order each run).
@Suite struct AdminCenterPageTests {
    @Test func everyMainPageRendersWithItsContent() async throws {
        try await TestServer.with(.sqlite) { server in
            try await server.createUser("ada@example.com", role: "administrator")
            try await server.createUser("rita@example.com", role: "readOnlyOperator")
            let snapshots = Snapshots()
            let browser = PageClient(server: server)
            let reader = PageClient(server: server)
            defer { browser.close(); reader.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)
            _ = try await reader.signIn("rita@example.com", AdminCenterTests.password)

            // The sign-in page and its refusal (no layout navigation, no session).
            let anonymous = PageClient(server: server)
            defer { anonymous.close() }
            try await snapshots.check("sign-in", anonymous.get("/sign-in?next=/devices"), contains: "name=\"next\" value=\"/devices\"", browser: anonymous)
            try await snapshots.check("sign-in-refused", anonymous.signIn("ada@example.com", "wrong password"), status: 401,
                                      contains: "id=\"sign-in-error\"", browser: anonymous)

            // Devices: a Linux device with Defender and tags, one without Defender, a Mac.
            let token = try await server.createEnrollmentToken()
            let web = try await TestAgent.enroll(server, name: "web-01", token: token, tags: ["agent-tag"])
            let bare = try await TestAgent.enroll(server, name: "bare-01", token: token, defender: nil)
            let mac = try await TestAgent.enroll(server, name: "mac-01", token: token, platform: .macos)

            // Groups through their forms: static with members and a nested group, and dynamic.
            let staticGroup = try await browser.post("/groups", ["name": "web", "kind": "static", "description": "web servers"])
            #expect(staticGroup.status == 303)
            let webGroup = try Self.id(after: "/groups/", in: staticGroup.location)
            let nestedGroup = try Self.id(after: "/groups/", in: try await browser.post("/groups", ["name": "canary", "kind": "static"]).location)
            let dynamicGroup = try Self.id(after: "/groups/", in: try await browser.post("/groups", [
                "name": "linux", "kind": "dynamic", "description": "every Linux device", "membershipRule": "device.platform -eq \"linux\"",
            ]).location)
            #expect(try await browser.post("/groups/\(webGroup)/members", ["devices": "web-01\n\(mac.deviceId)", "nestedGroup": nestedGroup]).status == 303)
            #expect(try await browser.post("/groups/\(nestedGroup)/members", ["devices": "bare-01"]).status == 303)
            #expect(try await browser.post("/devices/\(web.deviceId)/tags", ["tags": "prod, eu"]).status == 303)

            // A policy through the form, with a list, a multiple choice and an object list; then
            // a second revision, and a second policy that conflicts with it on one setting.
            let threat = "antivirusEngine.threatTypeSettings"
            let created = try await browser.postPairs("/policies", [
                ("platform", "linux"), ("template", "antivirus"), ("name", "AV"), ("description", "baseline antivirus"), ("action", "save"),
                ("s.cloudService.enabled", "true"), ("s.antivirusEngine.maximumOnDemandScanThreads", "2"),
                ("s.antivirusEngine.unmonitoredFilesystems", "nfs\nfuse"),
                ("s.antivirusEngine.disallowedThreatActions", "allow"), ("s.antivirusEngine.disallowedThreatActions", "restore"),
                ("o.\(threat).key", "archive_bomb"), ("o.\(threat).value", "audit"), ("o.\(threat).key", ""), ("o.\(threat).value", ""),
            ])
            #expect(created.status == 303, "\(created.body.prefix(600))")
            let policy = try Self.id(after: "/policies/", in: created.location)
            let edited = try await browser.postPairs("/policies/\(policy)", [
                ("name", "AV"), ("description", "baseline antivirus"), ("action", "save"),
                ("s.cloudService.enabled", "true"), ("s.antivirusEngine.maximumOnDemandScanThreads", "6"),
                ("s.antivirusEngine.unmonitoredFilesystems", "nfs"), ("s.antivirusEngine.disallowedThreatActions", "allow"),
                ("o.\(threat).key", "archive_bomb"), ("o.\(threat).value", "block"),
            ])
            #expect(edited.status == 303, "\(edited.body.prefix(600))")
            #expect(try await browser.postPairs("/policies/\(policy)/assignments", [("include", webGroup), ("include", dynamicGroup), ("action", "save")]).status == 303)
            let strict = try await server.createPolicy("AV strict", settings: ["antivirusEngine.maximumOnDemandScanThreads": 8])
            try await server.assign(strict, include: [webGroup])
            let windows = try await server.createPolicy("Windows ASR", template: "attackSurfaceReduction", platform: "windows", settings: [
                "Defender/AttackSurfaceReductionRules": ["56a863a9-875e-4185-98a7-b882c64b5ce5": 1],
            ])

            for agent in [web, bare, mac] { try await agent.sync() }
            // A hand edit of the managed file, put back by the agent: a drift event.
            var document = try #require(try web.managedFile()?.objectValue)
            var cloud = try #require(document["cloudService"]?.objectValue)
            cloud["enabled"] = false
            document["cloudService"] = .object(cloud)
            try CanonicalJSON.data(JSONValue.object(document)).write(to: URL(fileURLWithPath: web.managedFilePath))
            try await web.sync()

            // Administration through the forms.
            #expect(try await browser.post("/users", ["email": "kim@example.com", "displayName": "Kim", "role": "helpDeskOperator",
                                                      "password": AdminCenterTests.password]).status == 303)
            #expect(try await browser.post("/tenant-settings", ["platform.linux": "on", "platform.macos": "on", "takeOver.linux": "on",
                                                                "scope": "all", "tag": "", "staleAfterDays": "14"]).status == 303)
            let package = try await browser.post("/onboarding/package", ["platform": "linux", "name": "wave 2", "expiresInHours": "48",
                                                                         "maxUses": "10", "allowReenrollment": "on"])
            #expect(package.status == 200)
            #expect(package.headers["Content-Disposition"].first?.contains("attachment") == true)
            let newToken = try await browser.post("/api-tokens", ["name": "ci", "role": "readOnlyOperator", "expiresInDays": "30"])
            try snapshots.check("api-tokens-created", newToken, contains: "id=\"new-token-value\"", browser: browser)
            #expect(try await browser.post("/devices/\(bare.deviceId)/sync", [:]).status == 303)

            // The main pages, each with one thing it must show.
            let pages: [(String, String, String)] = [
                ("overview", "/", "<span class=\"big\" id=\"device-total\">3</span>"),
                ("devices", "/devices", "<a href=\"/devices/\(web.deviceId)\">web-01</a>"),
                ("devices-filtered", "/devices?platform=linux&search=web", "<a href=\"/devices\">Clear filters</a>"),
                ("device", "/devices/\(web.deviceId)", "from <a href=\"/policies/\(policy)\">AV</a> (revision 2)"),
                ("device-bare", "/devices/\(bare.deviceId)", "Defender not installed"),
                ("device-mac", "/devices/\(mac.deviceId)", "<h1>mac-01</h1>"),
                ("groups", "/groups", "<a href=\"/groups/\(webGroup)\">web</a>"),
                ("group-new", "/groups/new", "id=\"create-group\""),
                ("group", "/groups/\(webGroup)", "<a href=\"/groups/\(nestedGroup)\">canary</a>"),
                ("group-dynamic", "/groups/\(dynamicGroup)", "device.platform -eq &quot;linux&quot;"),
                ("policies", "/policies", "<a href=\"/policies/\(policy)\">AV</a>"),
                ("policy-kinds", "/policies/new", "/policies/new?platform=windows&amp;template=attackSurfaceReduction"),
                ("policy", "/policies/\(policy)", "aria-label=\"Roll back to revision 1\""),
                ("policy-windows", "/policies/\(windows)", "Defender/AttackSurfaceReductionRules"),
                ("policy-edit", "/policies/\(policy)/edit", "value=\"6\""),
                ("policy-edit-windows", "/policies/\(windows)/edit", "name=\"k.Defender/AttackSurfaceReductionRules.56a863a9-875e-4185-98a7-b882c64b5ce5\""),
                ("policy-report", "/policies/\(policy)/report", "id=\"policy-summary\""),
                ("policy-report-filtered", "/policies/\(policy)/report?state=conflict&search=web", "<a href=\"/policies/\(policy)/report\">Clear filters</a>"),
                ("revision-diff", "/policies/\(policy)/revisions/2?against=1", "<tr class=\"diff-changed\"><td><code>antivirusEngine.maximumOnDemandScanThreads</code>"),
                ("revision-diff-default", "/policies/\(policy)/revisions/2", "Changes from revision 1 to revision 2"),
                ("reports", "/reports", "<a href=\"/policies/\(policy)/report\">AV</a>"),
                ("drift-report", "/reports/drift", "<code>cloudService.enabled</code>"),
                ("enrollment-report", "/reports/enrollment", "id=\"enrollment-summary\""),
                ("enrollment-report-state", "/reports/enrollment?state=enrolled", "aria-current=\"true\""),
                ("onboarding", "/onboarding", "wave 2"),
                ("tenant-settings", "/tenant-settings", "value=\"14\""),
                ("users", "/users", "kim@example.com"),
                ("api-tokens", "/api-tokens", "<td>ci</td>"),
                ("audit", "/audit", "<code>policy.create</code>"),
                ("audit-filtered", "/audit?action=group.create", "value=\"group.create\""),
            ]
            for (name, path, content) in pages {
                try await snapshots.check(name, browser.get(path), contains: content, browser: browser)
            }
            // Every template and platform of the policy editor (every kind of field).
            for platform in PolicyPlatform.allCases {
                for template in PolicyTemplate.allCases where !server.store.catalog.definitions(platform: platform, template: template).isEmpty {
                    let form = try await browser.get("/policies/new?platform=\(platform.rawValue)&template=\(template.rawValue)")
                    try snapshots.check("policy-new-\(platform.rawValue)-\(template.rawValue)", form,
                                        contains: "<input type=\"hidden\" name=\"template\" value=\"\(template.rawValue)\">", browser: browser)
                    #expect(!form.body.contains("<summary>Description</summary><p class=\"help\"></p>"), "a setting without a description shows none")
                }
            }
            // A setting without a description does not show the policy's.
            let edr = try await server.createPolicy("EDR tags", template: "edr", settings: ["edr.groupIds": "web"])
            try await server.must(.PUT, "/api/v1/policies/\(edr)", ["name": "EDR tags", "description": "tagging for the web fleet", "platform": "linux",
                                                                   "template": "edr", "settings": ["edr.groupIds": "web"]])
            let edrForm = try await browser.get("/policies/\(edr)/edit")
            #expect(edrForm.body.contains("value=\"tagging for the web fleet\""))
            #expect(!edrForm.body.contains("<p class=\"help\">tagging for the web fleet</p>"))
            // What a read-only operator sees: no forms.
            for (name, path, content) in [("reader-device", "/devices/\(web.deviceId)", "<p>prod, eu</p>"),
                                          ("reader-group", "/groups/\(dynamicGroup)", "<p>Rule: <code>"),
                                          ("reader-policy", "/policies/\(policy)", "<p>Included: "),
                                          ("reader-tenant-settings", "/tenant-settings", "<fieldset disabled>"),
                                          ("reader-onboarding", "/onboarding", "id=\"token-table\"")] {
                try await snapshots.check(name, reader.get(path), contains: content, browser: reader)
            }
            // Error pages.
            try await snapshots.check("error-not-found", browser.get("/devices/00000000-0000-0000-0000-000000000000"), status: 404,
                                      contains: "<h1>404 Not Found</h1>", browser: browser)
            try await snapshots.check("error-bad-filter", browser.get("/devices?platform=amiga"), status: 400,
                                      contains: "platform must be one of", browser: browser)

            // Pages that answer a form: previews, and refusals shown beside their field.
            try await snapshots.check("policy-preview", browser.postPairs("/policies/\(policy)", [
                ("name", "AV"), ("description", ""), ("action", "preview"), ("s.antivirusEngine.maximumOnDemandScanThreads", "4"),
            ]), contains: "id=\"impact-preview\"", browser: browser)
            try await snapshots.check("policy-refused", browser.postPairs("/policies", [
                ("platform", "linux"), ("template", "antivirus"), ("name", "Linux AV"), ("action", "save"),
                ("s.antivirusEngine.maximumOnDemandScanThreads", "500"), ("s.antivirusEngine.scanResultsRetentionDays", "ninety"),
            ]), status: 400, contains: "id=\"setting-antivirusEngine-maximumOnDemandScanThreads-error\"", browser: browser)
            try await snapshots.check("policy-name-refused", browser.postPairs("/policies", [
                ("platform", "linux"), ("template", "antivirus"), ("name", ""), ("action", "save"),
            ]), status: 400, contains: "id=\"name-error\"", browser: browser)
            try await snapshots.check("assignment-preview", browser.postPairs("/policies/\(policy)/assignments", [
                ("include", webGroup), ("exclude", nestedGroup), ("action", "preview"),
            ]), contains: "id=\"impact-preview\"", browser: browser)
            try await snapshots.check("assignment-refused", browser.postPairs("/policies/\(policy)/assignments", [
                ("include", "00000000-0000-0000-0000-000000000000"), ("action", "save"),
            ]), status: 400, contains: "id=\"assignment-error\"", browser: browser)
            try await snapshots.check("rollback-preview", browser.post("/policies/\(policy)/rollback", ["revision": "1", "action": "preview"]),
                                      contains: "id=\"rollback-preview\"", browser: browser)
            try await snapshots.check("group-refused", browser.post("/groups", ["name": "", "kind": "static", "description": "typed"]),
                                      status: 400, contains: "id=\"name-error\"", browser: browser)
            try await snapshots.check("group-rule-refused", browser.post("/groups", ["name": "bad", "kind": "dynamic", "membershipRule": "device.platform -eq"]),
                                      status: 400, contains: "<p class=\"field-error\" id=\"membershipRule-error\" role=\"alert\">membershipRule", browser: browser)
            try await snapshots.check("group-edit-refused", browser.post("/groups/\(dynamicGroup)", ["name": "linux", "description": "", "membershipRule": "device.nonsense -eq 1"]),
                                      status: 400, contains: "aria-invalid=\"true\"", browser: browser)
            try await snapshots.check("group-members-refused", browser.post("/groups/\(webGroup)/members", ["devices": "no-such-device", "nestedGroup": ""]),
                                      status: 400, contains: "id=\"devices-error\"", browser: browser)
            try await snapshots.check("device-tags-refused", browser.post("/devices/\(web.deviceId)/tags", ["tags": String(repeating: "x", count: 300)]),
                                      status: 400, contains: "id=\"tags-error\"", browser: browser)
            try await snapshots.check("onboarding-refused", browser.post("/onboarding/package", ["platform": "linux", "name": "x", "expiresInHours": "soon", "maxUses": ""]),
                                      status: 400, contains: "expiresInHours must be a whole number of hours, got &quot;soon&quot;", browser: browser)
            try await snapshots.check("onboarding-uses-refused", browser.post("/onboarding/package", ["platform": "linux", "name": "x", "expiresInHours": "2", "maxUses": "many"]),
                                      status: 400, contains: "id=\"uses-error\"", browser: browser)
            try await snapshots.check("tenant-settings-refused", browser.post("/tenant-settings", ["platform.linux": "on", "scope": "all", "staleAfterDays": "a week"]),
                                      status: 400, contains: "id=\"stale-error\"", browser: browser)
            try await snapshots.check("tenant-settings-tag-refused", browser.post("/tenant-settings", ["platform.linux": "on", "scope": "tagged", "tag": "", "staleAfterDays": "7"]),
                                      status: 400, contains: "id=\"tag-error\"", browser: browser)
            try await snapshots.check("users-refused", browser.post("/users", ["email": "not an address", "displayName": "X", "role": "administrator", "password": "short"]),
                                      status: 400, contains: "value=\"not an address\"", browser: browser)
            try await snapshots.check("users-role-refused", browser.post("/users", ["email": "x@example.com", "displayName": "X", "role": "emperor", "password": AdminCenterTests.password]),
                                      status: 400, contains: "choose a role", browser: browser)
            try await snapshots.check("api-tokens-refused", browser.post("/api-tokens", ["name": "ci 2", "role": "readOnlyOperator", "expiresInDays": "forever"]),
                                      status: 400, contains: "id=\"expires-error\"", browser: browser)
            #expect(try await server.count("policies") == 4)
        }
    }

    static func id(after prefix: String, in location: String?) throws -> String {
        let path = try #require(location?.components(separatedBy: "?").first)
        #expect(path.hasPrefix(prefix), "\(path)")
        return String(path.dropFirst(prefix.count))
    }

    /// Checks a page and, when asked to, keeps a copy with what changes from run to run replaced.
    struct Snapshots {
        let directory = ProcessInfo.processInfo.environment["PALISADE_PAGE_SNAPSHOTS"]

        func check(_ name: String, _ answer: PageClient.Answer, status: Int = 200, contains content: String, browser: PageClient,
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(answer.status == status, "\(name): \(answer.status) \(answer.body.prefix(400))", sourceLocation: sourceLocation)
            #expect(answer.body.contains(content), "\(name) does not show \(content)", sourceLocation: sourceLocation)
            guard let directory else { return }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Self.normalized(answer.body, csrf: browser.csrf).write(toFile: directory + "/\(name).html", atomically: true, encoding: .utf8)
        }

        static func normalized(_ body: String, csrf: String?) -> String {
            var text = body
            if let csrf, !csrf.isEmpty { text = text.replacingOccurrences(of: csrf, with: "<csrf>") }
            text = text.replacing(/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/, with: "<uuid>")
            text = text.replacing(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/, with: "<time>")
            text = text.replacing(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/, with: "<time>")
            text = text.replacing(/127\.0\.0\.1:\d+/, with: "127.0.0.1:<port>")
            text = text.replacing(/<code id="new-token-value">[^<]*<\/code>/, with: "<code id=\"new-token-value\"><secret></code>")
            text = text.replacing(/\b[0-9a-f]{64}\b/, with: "<sha256>")
            text = text.replacing(/policies disagree: ([^<]*)</) { match in
                let values = match.output.1.components(separatedBy: "); ").map { $0.hasSuffix(")") ? String($0.dropLast()) : $0 }
                return "policies disagree: " + values.sorted().joined(separator: "); ") + ")<"
            }
            // A conflict's history row names the revision of the policy with the lowest id.
            text = text.replacing(/<td>([a-z]+ → )?conflict<\/td><td>\d+<\/td>/) { "<td>\($0.output.1 ?? "")conflict</td><td><revision></td>" }
            // What is listed by id comes in another order each run (the ids are random): sorted.
            for (open, close, item) in [("<p>Included:", "</p>", "<a "), ("<p>Excluded:", "</p>", "<a "), (" through ", "</div>", ", ")] {
                text = sortingItems(text, open: open, close: close, item: item, skippingTheTag: false)
            }
            for (open, close, item) in [("<tbody", "</tbody>", "<tr"), ("<select", "</select>", "<option"), ("<td class=\"why\"", "</td>", "<div>")] {
                text = sortingItems(text, open: open, close: close, item: item, skippingTheTag: true)
            }
            return text
        }

        /// `open` (and the rest of its tag up to `>`, when it opens one), then items separated by
        /// `item` up to `close`: the items sorted, white space around them dropped.
        static func sortingItems(_ text: String, open: String, close: String, item: String, skippingTheTag: Bool) -> String {
            var result = ""
            var rest = Substring(text)
            while let start = rest.range(of: open),
                  let tagEnd = skippingTheTag ? rest[start.upperBound...].firstIndex(of: ">").map(rest.index(after:)) : start.upperBound,
                  let end = rest[tagEnd...].range(of: close) {
                result += rest[..<tagEnd]
                let items = rest[tagEnd..<end.lowerBound].components(separatedBy: item).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                result += items.sorted().joined(separator: item) + close
                rest = rest[end.upperBound...]
            }
            return result + rest
        }
    }
}

extension PageClient {
    /// Posts a form given as name and value pairs, so that a name can repeat (checkbox lists,
    /// object-list rows, assignments), with the session's CSRF token.
    func postPairs(_ path: String, _ pairs: [(String, String)]) async throws -> Answer {
        if csrf == nil, cookie != nil { _ = try await get("/") }
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._*")
        let body = ([("csrf", csrf ?? "")] + pairs).map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.method = .POST
        if let cookie { request.headers.add(name: "Cookie", value: "palisade_session=\(cookie)") }
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 8 * 1024 * 1024)
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }
}

import Foundation
import PalisadeCore
@testable import PalisadeServer
import Testing

/// The admin center's fixed forms, decoded by Hummingbird's URLEncodedFormDecoder into typed
/// structs: fields trimmed and empty when left out (as FormData read them), checkboxes ticked
/// only when sent, and a body the decoder cannot read refused with 400 naming the field, after
/// the CSRF check and before anything is saved.
@Suite struct AdminCenterFormTests {
    @Test func fixedFormsDecodeIntoTheirFields() throws {
        let user = try FormData(encoded: "csrf=t&email=+ada%40example.com%0A&displayName=Ada+L&role=administrator&password=+two+words+").decode(NewUserForm.self)
        #expect(user.email == "ada@example.com")
        #expect(user.displayName == "Ada L")
        #expect(user.role == "administrator")
        #expect(user.password == " two words ", "a password is kept as typed")

        let empty = try FormData(encoded: "csrf=t").decode(NewUserForm.self)
        #expect(empty.email == "" && empty.role == "" && empty.password == nil)

        let package = try FormData(encoded: "platform=linux&name=wave&expiresInHours=+48+&maxUses=&allowReenrollment=on").decode(OnboardingPackageForm.self)
        #expect(package.expiresInHours == "48" && package.maxUses == "" && package.allowReenrollment)
        #expect(try FormData(encoded: "platform=linux").decode(OnboardingPackageForm.self).allowReenrollment == false)

        let settings = try FormData(encoded: "platform.linux=on&platform.windowsServer=on&takeOver.macos=on&scope=tagged&tag=+pilot+&staleAfterDays=14")
            .decode(TenantSettingsForm.self)
        #expect(settings.enforced == [.linux: true, .macos: false, .windows: false, .windowsServer: true])
        #expect(settings.takeOver == [.linux: false, .macos: true, .windows: false, .windowsServer: false])
        #expect(settings.scope == "tagged" && settings.tag == "pilot" && settings.staleAfterDays == "14")
        #expect(try FormData(encoded: "scope=all").decode(TenantSettingsForm.self).tag == nil, "no tag sent is no tag, not an empty one")

        let edit = try FormData(encoded: "description=x").decode(GroupEditForm.self)
        #expect(edit.name == nil, "a name not sent leaves the name as it is")
        #expect(try FormData(encoded: "name=+web+").decode(GroupEditForm.self).name == "web")
    }

    @Test func aBodyTheDecoderCannotReadIsRefusedNamingTheField() throws {
        for (body, field) in [("email=a%40b.c&email=c%40d.e", "email"), ("role[x]=administrator", "role"), ("email=%ZZ", nil)] as [(String, String?)] {
            let error = try #require(throws: PalisadeError.self) { try FormData(encoded: body).decode(NewUserForm.self) }
            #expect(error.status == .badRequest, "\(body)")
            #expect(error.details?.objectValue?["field"]?.stringValue == field, "\(body): \(error.message)")
        }
    }

    @Test func typedFormsKeepTheCSRFCheckAndRefuseWhatTheyCannotRead() async throws {
        try await TestServer.with(.sqlite) { server in
            try await server.createUser("ada@example.com", role: "administrator")
            let browser = PageClient(server: server)
            defer { browser.close() }
            _ = try await browser.signIn("ada@example.com", AdminCenterTests.password)

            // Without the token the form is refused before it is decoded, even a form the
            // decoder would refuse.
            let forged = try await browser.postPairs("/users", [("email", "x@example.com"), ("email", "y@example.com")], csrf: "not-the-token")
            #expect(forged.status == 403)
            #expect(forged.body.contains("CSRF"))

            let twice = try await browser.postPairs("/users", [("email", "x@example.com"), ("email", "y@example.com"), ("displayName", "X"),
                                                               ("role", "administrator"), ("password", AdminCenterTests.password)])
            #expect(twice.status == 400)
            #expect(twice.body.contains("the form could not be read: Found duplicate keys with name &#39;email&#39;"), "\(twice.body)")
            #expect(!(try await browser.get("/users").body.contains("x@example.com")))

            // A form with none of its fields is refused as a form with empty fields was before
            // (400, or 404 for what does not exist), never answered with a server error.
            let missing = "00000000-0000-0000-0000-000000000000"
            for path in ["/groups", "/groups/\(missing)", "/groups/\(missing)/members", "/devices/\(missing)/tags", "/policies/\(missing)/rollback",
                         "/onboarding/package", "/tenant-settings", "/users", "/users/\(missing)/role", "/api-tokens"] {
                let answer = try await browser.post(path, [:])
                #expect((400..<500).contains(answer.status) && answer.status != 403, "\(path): \(answer.status) \(answer.body.prefix(300))")
            }

            // Values are trimmed as before; a number that is not one is refused beside its field,
            // with what was typed kept.
            let created = try await browser.post("/api-tokens", ["name": "  ci  ", "role": "readOnlyOperator", "expiresInDays": " 30 "])
            #expect(created.status == 200)
            #expect(created.body.contains("<strong>Token \"ci\" created.</strong>"))
            let refused = try await browser.post("/api-tokens", ["name": "ci 2", "role": "readOnlyOperator", "expiresInDays": "soon"])
            #expect(refused.status == 400)
            #expect(refused.body.contains("<p class=\"field-error\" id=\"expires-error\">expiresInDays must be a whole number of days or empty (no expiry), got &quot;soon&quot;</p>"))
            #expect(refused.body.contains("value=\"soon\""))
            #expect(refused.body.contains("value=\"ci 2\""))
        }
    }
}

extension PageClient {
    /// `postPairs` with a given CSRF token instead of the session's.
    func postPairs(_ path: String, _ pairs: [(String, String)], csrf given: String) async throws -> Answer {
        let own = csrf
        csrf = given
        defer { csrf = own }
        return try await postPairs(path, pairs)
    }
}

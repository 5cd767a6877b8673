import ArgumentParser
import Foundation
import PalisadeCore
import PalisadeServer

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage the people who sign in to the admin center.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: """
            Create a user. The password is read from standard input (one line), so that it never \
            appears in a process list or a shell history.
            """)

        @Argument(help: "The user's email address (what they sign in with).")
        var email: String

        @Option(help: "administrator, endpointSecurityManager, readOnlyOperator or helpDeskOperator.")
        var role: String

        @Option(help: "The user's name as shown in the admin center (default: the email).")
        var displayName: String?

        @Option(help: "The tenant's name (default: the only tenant, or \"default\").")
        var tenant: String?

        @Flag(help: "Read the password from standard input (required).")
        var passwordStdin = false

        @OptionGroup var store: StoreOptions

        func validate() throws {
            guard Role(rawValue: role) != nil else {
                throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(role)\"")
            }
            guard passwordStdin else { throw ValidationError("give --password-stdin and the password on standard input") }
        }

        func run() async throws {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw ValidationError("no password on standard input")
            }
            let (email, role, displayName, tenantName) = (self.email, Role(rawValue: self.role)!, self.displayName ?? self.email, self.tenant)
            let user = try await store.withStore { store in
                let tenants = try await store.tenants()
                let tenant: Tenant
                if let tenantName {
                    tenant = try await store.tenant(named: tenantName)
                } else if tenants.count == 1 {
                    tenant = tenants[0]
                } else {
                    tenant = try await store.tenant(named: "default")
                }
                return try await AccessService(store: store).createUser(tenant: tenant.id, by: .system("palisade user create"), email: email,
                                                  displayName: displayName, role: role, password: line)
            }
            print("Created user \(user.email) (\(user.id)) with the role \(user.role.rawValue).")
        }
    }
}

/// Every domain service over one store, made once when the routes are built and handed to the
/// front ends (REST controllers, admin pages), so both reach the same rules.
public struct DomainServices: Sendable {
    public let policies: PolicyService
    public let groups: GroupService
    public let tenantSettings: TenantSettingsService
    public let enrollmentTokens: EnrollmentTokenService
    public let devices: DeviceService
    public let access: AccessService
    public let reports: ReportService

    public init(store: PalisadeStore) {
        policies = PolicyService(store: store)
        groups = GroupService(store: store)
        tenantSettings = TenantSettingsService(store: store)
        enrollmentTokens = EnrollmentTokenService(store: store)
        devices = DeviceService(store: store)
        access = AccessService(store: store)
        reports = ReportService(store: store)
    }
}

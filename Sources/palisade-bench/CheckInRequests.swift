import Foundation
import Logging
import PalisadeCore
import PalisadeIdentity
import PalisadeServer

/// `palisade-bench checkin-seed --data-dir DIR --devices N --out FILE` and
/// `palisade-bench checkin-sign --devices-file FILE --requests M [--wait-seconds S] --out FILE`,
/// for scripts/bench-checkin.sh: the server-alone figure of unchanged check-ins (issue 12), and
/// scripts/bench-hold.sh: server memory per held long-poll (`--wait-seconds 300`).
///
/// `checkin-seed` enrolls N devices straight through the store of a server's (stopped) data
/// directory, so that no enrollment rate limit applies, and writes each device's id, key,
/// inventory and configuration hash. `checkin-sign` pre-signs M single-use assertions for
/// unchanged check-ins (the agent's body: hash, a wait of S seconds (default 0), the same inventory), round robin over
/// the devices, one `authorization<TAB>body` line each, for wrk to replay once each.
enum CheckInRequests {
    struct SeededDevice: Codable {
        var deviceId: String
        var privateKeyPEM: String
        var inventory: DeviceProtocol.Inventory
        var configurationHash: String?
    }

    static func seed(dataDirectory: String, devices count: Int, out: String) async throws {
        let logger = {
            var logger = Logger(label: "palisade.bench")
            logger.logLevel = .warning
            return logger
        }()
        let location = try DatabaseLocation.from(databaseURL: nil, dataDirectory: dataDirectory)
        let seeded = try await Database.with(location, logger: logger) { backend in
            let store = PalisadeStore(backend: backend, logger: logger)
            try await store.migrate()
            _ = try await store.bootstrapIfEmpty()
            let tenant = try await store.tenants()[0].id
            let token = try await EnrollmentTokenService(store: store).create(tenant: tenant, by: .system("palisade-bench"), name: "bench-checkin",
                                                             expiresInHours: 24, maxUses: nil).token
            let devices = DeviceProtocolService(store: store)
            var seeded: [SeededDevice] = []
            for index in 0..<count {
                let keys = DeviceKeyPair.generate()
                let inventory = DeviceProtocol.Inventory(hostname: "bench-\(index)", platform: .linux, osVersion: "Ubuntu 24.04", hardwareId: "bench-hw-\(index)",
                                                         agentVersion: "bench", mdmEnrolled: false, tags: [])
                let enrolled = try await devices.enroll(.init(enrollmentToken: token, publicKey: keys.publicKeyPEM, inventory: inventory))
                // The first check-in of a day goes through the directory: done here, so that the
                // runs measure steady-state check-ins (run the benchmark on the seeding day, UTC).
                try await devices.recordCheckIn(deviceId: enrolled.deviceId, tenant: tenant, inventory: inventory, deliveredHash: nil)
                let hash = try await devices.configurationHash(deviceId: enrolled.deviceId, tenant: tenant)
                // A device in its steady state has reported what it holds (else its check-ins
                // would be asked for that report).
                if let hash {
                    _ = try await devices.recordReport(deviceId: enrolled.deviceId, tenant: tenant, report: .init(configurationHash: hash, results: []))
                }
                seeded.append(SeededDevice(deviceId: enrolled.deviceId, privateKeyPEM: keys.privateKeyPEM, inventory: inventory, configurationHash: hash))
            }
            await store.flushLastSeen()
            return seeded
        }
        try JSONEncoder().encode(seeded).write(to: URL(fileURLWithPath: out))
        print("seeded \(seeded.count) devices into \(location)")
    }

    static func sign(devicesFile: String, requests: Int, waitSeconds: Int = 0, out: String) async throws {
        let devices = try JSONDecoder().decode([SeededDevice].self, from: Data(contentsOf: URL(fileURLWithPath: devicesFile)))
        var signers: [DeviceAssertionSigner] = []
        for device in devices {
            var signer = try await DeviceAssertionSigner(deviceId: device.deviceId, privateKeyPEM: device.privateKeyPEM)
            signer.lifetimeSeconds = 240
            signers.append(signer)
        }
        let bodies = try devices.map {
            String(decoding: try CanonicalJSON.data(DeviceProtocol.CheckInRequest(configurationHash: $0.configurationHash, waitSeconds: waitSeconds, inventory: $0.inventory)), as: UTF8.self)
        }
        var lines = ""
        lines.reserveCapacity(requests * 900)
        for index in 0..<requests {
            let device = index % devices.count
            let header = try await signers[device].authorizationHeader(method: "POST", path: "/device/v1/check-in", body: Array(bodies[device].utf8))
            lines += header + "\t" + bodies[device] + "\n"
        }
        try lines.write(toFile: out, atomically: true, encoding: .utf8)
        print("signed \(requests) check-ins for \(devices.count) devices into \(out)")
    }
}

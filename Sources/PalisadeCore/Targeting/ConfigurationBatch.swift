#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One device's computed configuration, encoded and hashed, ready to store.
public struct ComputedConfiguration: Sendable, Hashable {
    public var deviceId: String
    public var hash: String
    public var effectiveJSON: String
    /// SHA-256 of `effectiveJSON`: what a recompute compares with the stored digest.
    public var effectiveDigest: String
    public var policies: [PolicyReference]
    /// The configuration itself (shared, copy-on-write, by devices with equal inputs): the
    /// reports derive each device's stored states from it.
    public var effective: EffectiveConfiguration
}

extension DirectoryIndex {
    /// The configurations of these devices (devices the index does not know are skipped).
    /// Devices reached by the same policies through the same groups share one merge, hash and
    /// encoding: at 100k devices there are about a fifth as many distinct inputs.
    public func computedConfigurations(of ids: [String]) -> [ComputedConfiguration] {
        var computed: [ConfigurationInputs: ComputedConfiguration] = [:]
        computed.reserveCapacity(ids.count / 4)
        return zip(ids, configurationInputs(of: ids)).compactMap { id, inputs in
            guard let inputs else { return nil }
            if var shared = computed[inputs] {
                shared.deviceId = id
                return shared
            }
            let configuration = effectiveConfiguration(for: inputs)
            let json = configuration.canonicalJSON
            let result = ComputedConfiguration(deviceId: id, hash: configuration.deviceConfiguration.hash, effectiveJSON: json,
                                               effectiveDigest: Digest.sha256Hex(Data(json.utf8)), policies: configuration.policies, effective: configuration)
            computed[inputs] = result
            return result
        }
    }

    /// The same, spread over `workers` tasks when there are many devices (the index is a
    /// value: each task reads its own copy). Results keep the order of `ids`.
    public func computedConfigurations(of ids: [String], workers: Int) async -> [ComputedConfiguration] {
        let workers = min(workers, ids.count / 1_000)
        guard workers > 1 else { return computedConfigurations(of: ids) }
        let size = (ids.count + workers - 1) / workers
        return await withTaskGroup(of: (Int, [ComputedConfiguration]).self) { group in
            for worker in 0..<workers {
                let slice = ids[(worker * size)..<min(ids.count, (worker + 1) * size)]
                group.addTask { (worker, self.computedConfigurations(of: Array(slice))) }
            }
            var parts: [[ComputedConfiguration]] = Array(repeating: [], count: workers)
            for await (worker, part) in group { parts[worker] = part }
            return parts.flatMap { $0 }
        }
    }
}

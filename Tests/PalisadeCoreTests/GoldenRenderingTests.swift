import Foundation
import PalisadeCore
import Testing

/// Exact output for a fixed configuration on each platform: what lands on the device, byte for
/// byte (the Windows case as registry values).
@Suite struct GoldenRenderingTests {
    let shared: [String: JSONValue] = [
        "antivirusEngine.enforcementLevel": "real_time",
        "antivirusEngine.exclusions": [["$type": "excludedPath", "isDirectory": true, "path": "/var/lib/db"]],
        "cloudService.enabled": true,
        "cloudService.cloudBlockLevel": "high",
    ]

    @Test func linuxManagedJSON() throws {
        let data = try #require(try LinuxManagedJSONRenderer.render(shared))
        #expect(String(decoding: data, as: UTF8.self) == """
            {
              "antivirusEngine" : {
                "enforcementLevel" : "real_time",
                "exclusions" : [
                  {
                    "$type" : "excludedPath",
                    "isDirectory" : true,
                    "path" : "/var/lib/db"
                  }
                ]
              },
              "cloudService" : {
                "cloudBlockLevel" : "high",
                "enabled" : true
              }
            }

            """)
    }

    @Test func macOSManagedPreferences() throws {
        let data = try #require(MacOSPlistRenderer.render(shared))
        #expect(String(decoding: data, as: UTF8.self) == """
            <?xml version="1.0" encoding="UTF-8"?>
            <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
            <plist version="1.0">
            <dict>
            \t<key>antivirusEngine</key>
            \t<dict>
            \t\t<key>enforcementLevel</key>
            \t\t<string>real_time</string>
            \t\t<key>exclusions</key>
            \t\t<array>
            \t\t\t<dict>
            \t\t\t\t<key>$type</key>
            \t\t\t\t<string>excludedPath</string>
            \t\t\t\t<key>isDirectory</key>
            \t\t\t\t<true/>
            \t\t\t\t<key>path</key>
            \t\t\t\t<string>/var/lib/db</string>
            \t\t\t</dict>
            \t\t</array>
            \t</dict>
            \t<key>cloudService</key>
            \t<dict>
            \t\t<key>cloudBlockLevel</key>
            \t\t<string>high</string>
            \t\t<key>enabled</key>
            \t\t<true/>
            \t</dict>
            </dict>
            </plist>

            """)
    }

    @Test func windowsRegistryValues() {
        let (values, problems) = WindowsRegistryRenderer().values(for: [
            "Defender/AllowRealtimeMonitoring": false,
            "Defender/CloudBlockLevel": 4,
            "Defender/ExcludedExtensions": ["log", "tmp"],
            "Defender/AttackSurfaceReductionRules": ["9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2": 1],
            "Firewall/MdmStore/PublicProfile/EnableFirewall": true,
            "ATP/DeviceTagging/Group": "prod",
        ])
        #expect(problems.isEmpty)
        let defender = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender"
        #expect(values == [
            RegistryValue(key: "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Advanced Threat Protection\\DeviceTagging", name: "Group", data: .string("prod")),
            RegistryValue(key: defender + "\\Exclusions", name: "Exclusions_Extensions", data: .dword(1)),
            RegistryValue(key: defender + "\\Exclusions\\Extensions", name: "log", data: .string("0")),
            RegistryValue(key: defender + "\\Exclusions\\Extensions", name: "tmp", data: .string("0")),
            RegistryValue(key: defender + "\\MpEngine", name: "MpCloudBlockLevel", data: .dword(4)),
            RegistryValue(key: defender + "\\Real-Time Protection", name: "DisableRealtimeMonitoring", data: .dword(1)),
            RegistryValue(key: defender + "\\Windows Defender Exploit Guard\\ASR", name: "ExploitGuard_ASR_Rules", data: .dword(1)),
            RegistryValue(key: defender + "\\Windows Defender Exploit Guard\\ASR\\Rules", name: "9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2", data: .string("1")),
            RegistryValue(key: "HKLM\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\PublicProfile", name: "EnableFirewall", data: .dword(1)),
        ].sorted())
    }

    @Test func registryOperationsDeleteOnlyWhatPalisadeWrote() {
        let keep = RegistryValue(key: "HKLM\\K", name: "Kept", data: .dword(1))
        let operations = WindowsRegistryRenderer.operations(
            desired: [keep],
            previouslyManaged: [RegistryValueLocation(key: "HKLM\\K", name: "Kept"), RegistryValueLocation(key: "HKLM\\K", name: "Dropped")])
        #expect(operations == [.delete(RegistryValueLocation(key: "HKLM\\K", name: "Dropped")), .set(keep)])
    }
}

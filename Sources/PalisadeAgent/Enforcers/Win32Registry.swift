#if os(Windows)
import PalisadeCore
import WinSDK

/// The Windows registry through Win32 (HKLM only: every Palisade value lives there).
/// Built only on Windows; the test suite runs on Linux with `FileBackedRegistry`.
public struct Win32Registry: RegistryStore {
    public init() {}

    public func read(keys: Set<String>) throws -> [RegistryValue] {
        var values: [RegistryValue] = []
        for keyPath in keys {
            var key: HKEY?
            guard RegOpenKeyExW(HKEY_LOCAL_MACHINE, String(keyPath.dropFirst("HKLM\\".count)).wide, 0, DWORD(KEY_READ), &key) == ERROR_SUCCESS else { continue }
            defer { RegCloseKey(key) }
            var index: DWORD = 0
            while true {
                var name = [WCHAR](repeating: 0, count: 16_384)
                var nameLength = DWORD(name.count)
                var type: DWORD = 0
                var data = [BYTE](repeating: 0, count: 65_536)
                var dataLength = DWORD(data.count)
                let status = RegEnumValueW(key, index, &name, &nameLength, nil, &type, &data, &dataLength)
                if status != ERROR_SUCCESS { break }
                index += 1
                let valueName = String(decoding: name[0..<Int(nameLength)], as: UTF16.self)
                if type == DWORD(REG_DWORD), dataLength >= 4 {
                    let number = UInt32(data[0]) | UInt32(data[1]) << 8 | UInt32(data[2]) << 16 | UInt32(data[3]) << 24
                    values.append(RegistryValue(key: keyPath, name: valueName, data: .dword(number)))
                } else if type == DWORD(REG_SZ) {
                    let units = stride(from: 0, to: Int(dataLength) - 1, by: 2).map { UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8 }
                    values.append(RegistryValue(key: keyPath, name: valueName, data: .string(String(decoding: units.prefix { $0 != 0 }, as: UTF16.self))))
                }
            }
        }
        return values
    }

    public func apply(_ operations: [RegistryOperation]) throws {
        for operation in operations {
            switch operation {
            case .set(let value):
                var key: HKEY?
                let subKey = String(value.location.key.dropFirst("HKLM\\".count))
                guard RegCreateKeyExW(HKEY_LOCAL_MACHINE, subKey.wide, 0, nil, 0, DWORD(KEY_SET_VALUE), nil, &key, nil) == ERROR_SUCCESS else {
                    throw Win32RegistryError(operation: "create key \(value.location.key)")
                }
                defer { RegCloseKey(key) }
                let status: LSTATUS
                switch value.data {
                case .dword(let number):
                    // Little-endian DWORD bytes; the pointer is used only inside the closure.
                    let bytes: [BYTE] = [BYTE(number & 0xff), BYTE(number >> 8 & 0xff), BYTE(number >> 16 & 0xff), BYTE(number >> 24 & 0xff)]
                    status = bytes.withUnsafeBufferPointer { buffer in
                        RegSetValueExW(key, value.location.name.wide, 0, DWORD(REG_DWORD), buffer.baseAddress, DWORD(buffer.count))
                    }
                case .string(let string):
                    let wide = string.wide
                    status = wide.withUnsafeBytes { bytes in
                        RegSetValueExW(key, value.location.name.wide, 0, DWORD(REG_SZ), bytes.baseAddress?.assumingMemoryBound(to: BYTE.self), DWORD(bytes.count))
                    }
                }
                guard status == ERROR_SUCCESS else { throw Win32RegistryError(operation: "set \(value.location.name)") }
            case .delete(let location):
                let subKey = String(location.key.dropFirst("HKLM\\".count))
                let status = RegDeleteKeyValueW(HKEY_LOCAL_MACHINE, subKey.wide, location.name.wide)
                guard status == ERROR_SUCCESS || status == ERROR_FILE_NOT_FOUND else { throw Win32RegistryError(operation: "delete \(location.name)") }
            }
        }
    }
}

struct Win32RegistryError: Error {
    var operation: String
}

extension String {
    var wide: [WCHAR] { Array(utf16) + [0] }
}
#endif

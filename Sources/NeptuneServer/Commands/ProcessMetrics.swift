#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What INFO reports about the process and the machine, read from the operating system.
enum ProcessMetrics {
    /// `os`: the kernel name, release and machine, as `uname -srm` prints them (`Linux 6.8.0 x86_64`).
    static let operatingSystem: String = {
        var names = utsname()
        guard uname(&names) == 0 else { return "unknown" }
        func text<T>(_ field: inout T) -> String {
            withUnsafeBytes(of: &field) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return "\(text(&names.sysname)) \(text(&names.release)) \(text(&names.machine))"
    }()

    /// `executable`: the absolute path of the running program.
    static let executable: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return CommandLine.arguments.first ?? "" }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    static var processID: Int { Int(getpid()) }

    /// The memory page size in bytes.
    static let pageSize: Int = {
        let size = sysconf(Int32(_SC_PAGESIZE))
        return size > 0 ? size : 4096
    }()

    /// `total_system_memory`: the machine's physical memory in bytes.
    static let totalSystemMemory: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        return pages > 0 ? pages * pageSize : 0
    }()

    /// `used_memory_rss`: the resident set size in bytes, from `/proc/self/statm` (0 where it cannot be read).
    static func residentSetSize() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count - 1, file) }
        let fields = buffer[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count >= 2, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * pageSize
    }

    /// CPU time used, as `used_cpu_sys`/`used_cpu_user` (`RUSAGE_SELF`) and the `_children` pair.
    struct CPUTimes {
        var system: timeval
        var user: timeval
    }

    static func cpuTimes(children: Bool) -> CPUTimes {
        var usage = rusage()
        #if canImport(Glibc)
        let who = __rusage_who_t((children ? RUSAGE_CHILDREN : RUSAGE_SELF).rawValue)
        #else
        let who = children ? RUSAGE_CHILDREN : RUSAGE_SELF
        #endif
        _ = getrusage(who, &usage)
        return CPUTimes(system: usage.ru_stime, user: usage.ru_utime)
    }

    /// A time as Redis prints CPU times: seconds, a dot and six digits of microseconds.
    static func format(_ time: timeval) -> String {
        let micros = String(Int(time.tv_usec))
        return "\(Int(time.tv_sec))." + String(repeating: "0", count: max(0, 6 - micros.count)) + micros
    }
}

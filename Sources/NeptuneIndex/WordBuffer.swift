#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Growable, zero-filled storage of `UInt64` words for the index's large per-document and per-string tables,
/// aligned to a cache line so that a 64-byte row is one line, and backed by transparent huge pages once it is
/// large.
///
/// On a million documents these tables are tens of megabytes read at random, one row per write: with 4 KiB pages
/// nearly every access is a TLB miss as well as a cache miss. Storage of ``hugePage`` bytes or more is mapped
/// anonymously, aligned to a huge page and `madvise(MADV_HUGEPAGE)`d before it is touched (which the kernel honours
/// when transparent huge pages are `madvise` or `always`), so its pages fault in as 2 MiB pages; smaller storage
/// comes from `posix_memalign`.
///
/// A class, so that a table and the stores reading columns of its rows share one buffer that can grow in place.
/// Not thread-safe: the index's owner serializes access.
final class WordBuffer {
    /// The words (`capacity` of them, zero beyond what was written).
    private(set) var base: UnsafeMutablePointer<UInt64>
    /// Number of words allocated.
    private(set) var capacity: Int
    /// Bytes mapped (0 when the storage came from `posix_memalign`).
    private var mappedBytes: Int

    /// Size of a transparent huge page on x86-64 and most arm64 kernels.
    static let hugePage = 2 << 20

    /// An empty buffer (it allocates one cache line).
    init(capacity words: Int = 8) {
        (base, capacity, mappedBytes) = Self.allocate(Swift.max(8, words))
    }

    deinit {
        Self.deallocate(base, mappedBytes)
    }

    /// Grows the storage to hold at least `words` words (at least doubling), keeping the contents; new words are
    /// zero.
    @inline(__always)
    func reserve(_ words: Int) {
        if words > capacity { grow(words) }
    }

    private func grow(_ words: Int) {
        let (newBase, newCapacity, newMapped) = Self.allocate(Swift.max(words, capacity * 2))
        newBase.update(from: base, count: capacity)
        Self.deallocate(base, mappedBytes)
        (base, capacity, mappedBytes) = (newBase, newCapacity, newMapped)
    }

    /// Zeroes every word and gives back storage beyond `words` words.
    func reset(keeping words: Int = 8) {
        Self.deallocate(base, mappedBytes)
        (base, capacity, mappedBytes) = Self.allocate(Swift.max(8, words))
    }

    /// Whether the storage is mapped with the huge-page advice (large buffers on Linux).
    var isHugePageAdvised: Bool { mappedBytes > 0 }

    @inline(__always)
    subscript(_ i: Int) -> UInt64 {
        get { base[i] }
        set { base[i] = newValue }
    }

    private static func allocate(_ words: Int) -> (UnsafeMutablePointer<UInt64>, Int, Int) {
        let bytes = words * 8
        #if os(Linux)
        if bytes >= hugePage, let (pointer, mapped) = mapHuge(bytes) {
            return (pointer.bindMemory(to: UInt64.self, capacity: mapped / 8), mapped / 8, mapped)
        }
        #endif
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else { fatalError("out of memory (\(bytes) bytes)") }
        memset(raw, 0, bytes)
        return (raw.bindMemory(to: UInt64.self, capacity: words), words, 0)
    }

    private static func deallocate(_ base: UnsafeMutablePointer<UInt64>, _ mappedBytes: Int) {
        if mappedBytes > 0 {
            munmap(UnsafeMutableRawPointer(base), mappedBytes)
        } else {
            free(base)
        }
    }

    #if os(Linux)
    /// Maps `bytes` (rounded up to huge pages) at a huge-page boundary, advised for huge pages. Nil if the mapping
    /// fails (the caller falls back to `posix_memalign`).
    private static func mapHuge(_ bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
        let size = (bytes + hugePage - 1) & ~(hugePage - 1)
        // Over-map by one huge page and trim both ends, so that the kept range is aligned.
        guard let raw = mmap(nil, size + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            raw != UnsafeMutableRawPointer(bitPattern: -1)
        else { return nil }
        let address = UInt(bitPattern: raw)
        let aligned = (address + UInt(hugePage) - 1) & ~UInt(hugePage - 1)
        let head = Int(aligned - address)
        if head > 0 { munmap(raw, head) }
        let tail = hugePage - head
        let start = UnsafeMutableRawPointer(bitPattern: aligned)!
        if tail > 0 { munmap(start + size, tail) }
        // Advice only: without it (or with huge pages disabled) the storage still works on small pages.
        _ = madvise(start, size, MADV_HUGEPAGE)
        return (start, size)
    }
    #endif
}

#if canImport(Glibc)
import Glibc
#endif
import NeptuneCache
import NeptuneSnapshot
import Testing

/// The README's durable embedding example, on a real directory: written, closed, reopened.
@Suite struct ReadmeDurableExampleTests {
    @Test func durableExample() throws {
        var template = Array("/tmp/neptune-readme-XXXXXX".utf8CString)
        let dataDirectory = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
            .map { String(cString: $0) })
        defer { Self.removeTree(dataDirectory) }

        let store = try NeptuneStore.open(directory: dataDirectory, options: .init(appendfsync: .always))
        try store.set("order:17", "paid")                 // on stable storage when this returns
        store.close()                                      // flushes the journal; reopening replays it

        let reopened = try NeptuneStore.open(directory: dataDirectory)
        #expect(try reopened.get("order:17") == Array("paid".utf8))
        reopened.close()
    }

    static func removeTree(_ path: String) {
        if let entries = try? PosixFileSystem().listDirectory(path) {
            for entry in entries { removeTree("\(path)/\(entry)") }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

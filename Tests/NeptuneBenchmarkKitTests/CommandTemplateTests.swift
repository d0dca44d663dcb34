import NeptuneBenchmarkKit
import Testing

@Suite struct CommandTemplateTests {
    @Test func parsesPlaceholdersInsideAndBetweenArguments() throws {
        let template = try CommandTemplate(parsing: "hset user:__key__ name __data__")
        #expect(template.name == "HSET")
        #expect(template.usesKey)
        #expect(template.usesData)
        #expect(
            template.arguments == [
                [.literal(Array("hset".utf8))],
                [.literal(Array("user:".utf8)), .key],
                [.literal(Array("name".utf8))],
                [.data],
            ]
        )
    }

    @Test func quotesGroupArgumentsAndUnderstandEscapes() throws {
        let template = try CommandTemplate(parsing: #"SET "a b" 'c "d"' "x\"y\\z\x41\n""#)
        #expect(
            template.arguments == [
                [.literal(Array("SET".utf8))],
                [.literal(Array("a b".utf8))],
                [.literal(Array(#"c "d""#.utf8))],
                [.literal(Array("x\"y\\zA\n".utf8))],
            ]
        )
        #expect(!template.usesKey)
        #expect(try CommandTemplate(parsing: #"SET """#).arguments[1] == [.literal([])])
    }

    @Test(arguments: ["", "   ", #"SET "open"#, "SET 'open", #"SET "\x4""#, "__key__ x"])
    func rejectsMalformedTemplates(source: String) {
        #expect(throws: BenchmarkError(.invalidTemplate, "")) {
            try CommandTemplate(parsing: source)
        }
    }

    @Test func encodesFixedSizeRequests() throws {
        let format = KeyFormat(prefix: "key:", keyspace: 1_000_000)
        let set = RequestEncoder(
            template: try CommandTemplate(parsing: "SET __key__ __data__"),
            keyFormat: format,
            fixedDataSize: 5
        )
        let bytes = set.encode(keyIndex: 42, dataSize: 5, data: Array("abcdefgh".utf8))
        #expect(String(decoding: bytes, as: UTF8.self) == "*3\r\n$3\r\nSET\r\n$12\r\nkey:00000042\r\n$5\r\nabcde\r\n")

        let get = RequestEncoder(
            template: try CommandTemplate(parsing: "GET __key__"),
            keyFormat: format,
            fixedDataSize: 5
        )
        #expect(String(decoding: get.encode(keyIndex: 7, dataSize: 5, data: []), as: UTF8.self)
            == "*2\r\n$3\r\nGET\r\n$12\r\nkey:00000007\r\n")
    }

    @Test func encodesVariableSizeRequestsWithSharedKeyAndSize() throws {
        let format = KeyFormat(prefix: "", keyspace: 10)
        let encoder = RequestEncoder(
            template: try CommandTemplate(parsing: "MSET __key__ v__data__ k2 __data____data__"),
            keyFormat: format,
            fixedDataSize: nil
        )
        let data = Array("0123456789".utf8)
        #expect(
            String(decoding: encoder.encode(keyIndex: 3, dataSize: 2, data: data), as: UTF8.self)
                == "*5\r\n$4\r\nMSET\r\n$8\r\n00000003\r\n$3\r\nv01\r\n$2\r\nk2\r\n$4\r\n0101\r\n"
        )
        #expect(
            String(decoding: encoder.encode(keyIndex: 3, dataSize: 0, data: data), as: UTF8.self)
                == "*5\r\n$4\r\nMSET\r\n$8\r\n00000003\r\n$1\r\nv\r\n$2\r\nk2\r\n$0\r\n\r\n"
        )
    }

    @Test func keyWidthGrowsWithTheKeyspace() {
        #expect(KeyFormat(prefix: "key:", keyspace: 100_000_000).width == 8)
        #expect(KeyFormat(prefix: "key:", keyspace: 100_000_001).width == 9)
        #expect(KeyFormat(prefix: "key:", keyspace: 1).key(0) == Array("key:00000000".utf8))
        #expect(KeyFormat(prefix: "k", keyspace: 1_000_000_000).key(123) == Array("k000000123".utf8))
    }
}

@Suite struct CommandMixTests {
    @Test func honoursTheRatioAndSpreadsTheMinority() throws {
        let mix = try CommandMix(weights: [1, 10])
        #expect(mix.cycle.count == 11)
        #expect(mix.cycle.filter { $0 == 0 }.count == 1)
        let spread = try CommandMix(weights: [2, 6])
        #expect(spread.cycle.count == 4)
        #expect(spread.cycle.filter { $0 == 0 }.count == 1)
        let even = try CommandMix(weights: [3, 3])
        #expect(even.cycle == [0, 1])
        let third = try CommandMix(weights: [1, 1, 2])
        #expect(third.cycle == [2, 0, 1, 2])
    }

    @Test func skipsZeroWeights() throws {
        #expect(try CommandMix(weights: [0, 4]).cycle == [1])
    }

    @Test(arguments: [[0, 0], [], [-1, 2], [1, 2_000_000]])
    func rejectsUnusableWeights(weights: [Int]) {
        #expect(throws: BenchmarkError(.invalidConfiguration, "")) {
            try CommandMix(weights: weights)
        }
    }
}

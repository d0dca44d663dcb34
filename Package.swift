// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "Neptune",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NeptuneCache", targets: ["NeptuneCache"]),
        .library(name: "NeptuneIndex", targets: ["NeptuneIndex"]),
        .library(name: "NeptuneSnapshot", targets: ["NeptuneSnapshot"]),
        .library(name: "NeptuneRESP", targets: ["NeptuneRESP"]),
        .library(name: "NeptuneServer", targets: ["NeptuneServer"]),
        .executable(name: "neptune-server", targets: ["neptune-server"]),
        .executable(name: "neptune-benchmark", targets: ["neptune-benchmark"]),
        .executable(name: "neptune-check", targets: ["neptune-check"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]
        ),
        // epoll, eventfd and accept4 for neptune-server's client transport, and thread naming (Linux headers only,
        // nothing to link).
        .systemLibrary(name: "CNeptuneLinux"),
        .target(
            name: "NeptuneRESP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Cache prefetch for the search index's write path (a header, nothing to link).
        .systemLibrary(name: "CNeptuneIndex"),
        .target(name: "NeptuneIndex", dependencies: ["CNeptuneIndex"]),
        .target(
            name: "NeptuneCache",
            dependencies: [
                "CNeptuneLinux",
                "NeptuneIndex",
                "NeptuneRESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "NeptuneSnapshot",
            dependencies: [
                "CLZ4",
                "CNeptuneLinux",
                "NeptuneCache",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "NeptuneServer",
            dependencies: [
                "CNeptuneLinux",
                "NeptuneCache",
                "NeptuneSnapshot",
                "NeptuneRESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "neptune-server",
            dependencies: [
                "NeptuneServer",
                "NeptuneCache",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "neptune-check",
            dependencies: [
                "NeptuneSnapshot",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "NeptuneBenchmarkKit",
            dependencies: [
                "NeptuneRESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "neptune-benchmark",
            dependencies: [
                "NeptuneBenchmarkKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "neptune-embedded-benchmark",
            dependencies: ["NeptuneCache", "NeptuneSnapshot"],
            path: "benchmarks/embedded"
        ),
        .target(
            name: "NeptuneTestSupport",
            dependencies: [
                "NeptuneCache",
                "NeptuneSnapshot",
                "NeptuneRESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/NeptuneTestSupport"
        ),
        .testTarget(
            name: "NeptuneRESPTests",
            dependencies: [
                "NeptuneRESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "NeptuneBenchmarkKitTests", dependencies: ["NeptuneBenchmarkKit"]),
        .testTarget(name: "NeptuneIndexTests", dependencies: ["NeptuneIndex"]),
        .testTarget(
            name: "NeptuneCacheTests",
            dependencies: ["NeptuneCache", "NeptuneTestSupport", "NeptuneRESP"]
        ),
        .testTarget(
            name: "NeptuneSnapshotTests",
            dependencies: [
                "NeptuneSnapshot",
                "NeptuneCache",
                "NeptuneRESP",
                "NeptuneTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "NeptuneServerTests",
            dependencies: [
                "NeptuneServer",
                "NeptuneCache",
                "NeptuneSnapshot",
                "NeptuneTestSupport",
                "NeptuneRESP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where [.regular, .test, .executable].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings += ["ExistentialAny", "MemberImportVisibility", "InternalImportsByDefault"].map {
        .enableUpcomingFeature($0)
    }
    if target.type == .regular && target.name.hasPrefix("Neptune") && target.name != "NeptuneTestSupport" {
        settings.append(.define("NEPTUNE_INTERNAL_CHECKS", .when(configuration: .debug)))
    }
    target.swiftSettings = settings
}

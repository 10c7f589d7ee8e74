// swift-tools-version:5.9
//
// MerchantKit: the merchant core for iOS apps.
//
//   MerchantFFI   binary target: ios/MerchantFFI.xcframework (libmerchant_ffi.a for
//                 devices and simulators, with the C header and module map)
//   MerchantKit   the generated Swift bindings (Sources/MerchantKit/Generated/,
//                 module MerchantKit) and the facade: error helpers, Keychain
//                 SecretStore, push glue
//
// Build the XCFramework and the generated Swift first:
//   bindings/scripts/build-xcframework
//
// For a release, publish the zipped XCFramework and switch the binary target
// to `.binaryTarget(name: "MerchantFFI", url: ..., checksum: ...)`
// (`swift package compute-checksum MerchantFFI.xcframework.zip`).
import PackageDescription

let package = Package(
    name: "MerchantKit",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "MerchantKit", targets: ["MerchantKit"]),
    ],
    targets: [
        .binaryTarget(name: "MerchantFFI", path: "MerchantFFI.xcframework"),
        .target(
            name: "MerchantKit",
            dependencies: ["MerchantFFI"],
            path: "Sources/MerchantKit"
        ),
        .testTarget(
            name: "MerchantKitTests",
            dependencies: ["MerchantKit"],
            path: "Tests/MerchantKitTests"
        ),
    ]
)

// swift-tools-version:6.0
// Coupon Cluster: three services over NNG with our own binary protocol, PostgreSQL as the truth,
// Redis as the fast path. No package dependencies: the C libraries come from Debian and are wrapped
// as system-library targets under Shared/.
import PackageDescription

let package = Package(
    name: "CouponCluster",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "coupon-center", targets: ["CouponCenter"]),
        .executable(name: "rule-engine", targets: ["RuleEngine"]),
        .executable(name: "risk-control", targets: ["RiskControl"]),
        .executable(name: "couponctl", targets: ["CouponCtl"]),
        .executable(name: "coupon-load", targets: ["CouponLoad"]),
        // The typed client other Swift services link to call the cluster over the wire.
        .library(name: "CouponClient", targets: ["CouponClient"]),
    ],
    targets: [
        // C libraries, one system-library target each (a module map and a shim header).
        .systemLibrary(name: "CNNG", path: "Shared/CNNG"),
        .systemLibrary(name: "CHiredis", path: "Shared/CHiredis"),
        .systemLibrary(name: "CLibpq", path: "Shared/CLibpq"),
        // OpenSSL's libcrypto (libssl-dev 3.0): the HMAC-SHA256 that signs webhooks, SHA-256 of
        // stored tokens, RAND_bytes, CRYPTO_memcmp.
        .systemLibrary(name: "COpenSSL", path: "Shared/COpenSSL"),
        // libxcrypt (libcrypt-dev): yescrypt password hashes.
        .systemLibrary(name: "CCrypt", path: "Shared/CCrypt"),

        // Swift wrappers: the only modules that see a C type.
        .target(name: "Messaging", dependencies: ["CNNG"], path: "Shared/Messaging"),
        .target(name: "Postgres", dependencies: ["CLibpq"], path: "Shared/Postgres"),
        .target(name: "Redis", dependencies: ["CHiredis"], path: "Shared/Redis"),
        .target(name: "Signatures", dependencies: ["COpenSSL", "CCrypt"], path: "Shared/Signatures"),

        // Pure Swift: the wire protocol and the coupon rules. No C, no I/O.
        .target(name: "Wire", path: "Shared/Wire", exclude: ["PROTOCOL.md"]),
        .target(name: "Domain", dependencies: ["Wire"], path: "Shared/Domain"),
        // The shapes of coupon-center's batch inputs to SQL, which migration 0006 declares as types.
        .target(name: "BatchInputs", dependencies: ["Wire"], path: "Shared/BatchInputs"),
        // Who may call what (one table for both fronts), the password, username and cookie rules.
        .target(name: "Access", dependencies: ["Wire"], path: "Shared/Access"),
        // Checking a credential against PostgreSQL's session and token tables, for every service.
        .target(name: "Credentials", dependencies: ["Access", "Signatures", "Postgres", "ServiceKit", "Wire"], path: "Shared/Credentials"),

        // risk-control's rules over Redis: a library so integration tests can drive it directly.
        .target(name: "Risk", dependencies: ["Wire", "Redis", "Postgres", "ServiceKit", "BatchInputs"], path: "Shared/Risk"),

        // What every executable shares: configuration, logs, metrics, lifecycle, RPC plumbing.
        .target(name: "ServiceKit", dependencies: ["Wire", "Messaging", "Access"], path: "Shared/ServiceKit"),
        .target(name: "CouponClient", dependencies: ["Wire", "Messaging"], path: "Shared/CouponClient"),

        .executableTarget(
            name: "CouponCenter",
            dependencies: [
                "ServiceKit", "Wire", "Domain", "BatchInputs", "Messaging", "Postgres", "Redis", "CouponClient", "Signatures", "Access",
                "Credentials",
            ],
            path: "Services/CouponCenter",
            resources: [.embedInCode("Migrations"), .embedInCode("Scripts")]
        ),
        .executableTarget(
            name: "RuleEngine", dependencies: ["ServiceKit", "Wire", "Domain", "Credentials"],
            path: "Services/RuleEngine"),
        .executableTarget(
            name: "RiskControl", dependencies: ["ServiceKit", "Wire", "Risk", "Redis", "Postgres", "Credentials"],
            path: "Services/RiskControl", resources: [.embedInCode("Migrations")]),
        .executableTarget(
            name: "CouponCtl", dependencies: ["ServiceKit", "Wire", "Domain", "CouponClient", "Messaging"],
            path: "Services/CouponCtl"),
        .executableTarget(
            name: "CouponLoad", dependencies: ["ServiceKit", "Wire", "CouponClient", "Messaging", "Domain"],
            path: "Services/CouponLoad"),

        // Test-only helpers: servers and executables started on free ports, fresh databases.
        .target(
            name: "TestSupport", dependencies: ["Postgres", "Redis", "CouponClient", "ServiceKit", "Wire", "Messaging"],
            path: "Tests/TestSupport"),

        .testTarget(name: "WireTests", dependencies: ["Wire"], path: "Tests/WireTests"),
        .testTarget(name: "DomainTests", dependencies: ["Domain", "Wire"], path: "Tests/DomainTests"),
        .testTarget(name: "AccessTests", dependencies: ["Access", "Wire", "Signatures"], path: "Tests/AccessTests"),
        // Reads the source tree (not the modules): which module may import which, declared
        // dependencies that nothing imports, the migration list against its folder.
        .testTarget(name: "ArchitectureTests", path: "Tests/ArchitectureTests"),
        .testTarget(
            name: "ServiceKitTests", dependencies: ["ServiceKit", "Messaging", "Wire", "CouponClient", "TestSupport"],
            path: "Tests/ServiceKitTests"),
        // Needs the PostgreSQL and Redis that Deploy/test starts (TEST_DATABASE_URL, TEST_REDIS_URL).
        .testTarget(
            name: "IntegrationTests", dependencies: ["Postgres", "Redis", "Wire", "TestSupport", "Risk", "ServiceKit", "BatchInputs"],
            path: "Tests/IntegrationTests", exclude: ["Snapshots"]),
        // coupon-center's routes in process, over the test PostgreSQL and Redis (no process spawned).
        .testTarget(
            name: "CouponCenterTests",
            dependencies: [
                "CouponCenter", "TestSupport", "Postgres", "Redis", "ServiceKit", "Wire", "Messaging", "CouponClient", "Domain", "Signatures",
                "Access",
            ],
            path: "Tests/CouponCenterTests"),
        // Deploy/docker-compose.yml and the Dockerfile, checked statically against the executables.
        .testTarget(name: "DeployTests", dependencies: ["Wire", "TestSupport"], path: "Tests/DeployTests"),
        // Starts the real executables on free ports and talks to them over the wire and HTTP.
        .testTarget(
            name: "ClusterTests", dependencies: ["CouponClient", "Wire", "Messaging", "ServiceKit", "TestSupport", "Postgres", "Redis", "Access"],
            path: "Tests/ClusterTests"),
    ],
    swiftLanguageModes: [.v6]
)

/// A request message: its kind, and the type of its successful reply.
public protocol WireRequest: Codable, Sendable {
    associatedtype Response: Codable & Sendable
    static var kind: MessageKind { get }
}

/// `ping` (0x0001): is the service there, and are its own dependencies?
public struct PingRequest: WireRequest, Equatable {
    public typealias Response = PingResponse
    public static let kind = MessageKind.ping
    public init() {}
}

public struct DependencyStatus: Codable, Sendable, Equatable {
    public var name: String
    public var healthy: Bool
    public var detail: String

    public init(name: String, healthy: Bool, detail: String) {
        self.name = name
        self.healthy = healthy
        self.detail = detail
    }
}

public struct PingResponse: Codable, Sendable, Equatable {
    public var service: String
    public var instance: String
    public var version: String
    public var uptimeMilliseconds: Int64
    public var dependencies: [DependencyStatus]

    public init(service: String, instance: String, version: String, uptimeMilliseconds: Int64, dependencies: [DependencyStatus]) {
        self.service = service
        self.instance = instance
        self.version = version
        self.uptimeMilliseconds = uptimeMilliseconds
        self.dependencies = dependencies
    }
}

/// `service_stats` (0x0002): the per-call counters and latency figures a service keeps.
public struct ServiceStatsRequest: WireRequest, Equatable {
    public typealias Response = ServiceStatsResponse
    public static let kind = MessageKind.serviceStats
    public init() {}
}

public struct CallStats: Codable, Sendable, Equatable {
    public var call: String
    public var count: Int64
    public var errors: Int64
    public var p50Microseconds: Int64
    public var p99Microseconds: Int64
    public var maxMicroseconds: Int64

    public init(call: String, count: Int64, errors: Int64, p50Microseconds: Int64, p99Microseconds: Int64, maxMicroseconds: Int64) {
        self.call = call
        self.count = count
        self.errors = errors
        self.p50Microseconds = p50Microseconds
        self.p99Microseconds = p99Microseconds
        self.maxMicroseconds = maxMicroseconds
    }
}

public struct ServiceStatsResponse: Codable, Sendable, Equatable {
    public var service: String
    public var calls: [CallStats]

    public init(service: String, calls: [CallStats]) {
        self.service = service
        self.calls = calls
    }
}

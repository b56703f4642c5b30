import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure of the test environment itself (a missing server, a port that cannot be bound),
/// reported with a message that says what to install or set.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The value of an environment variable the tests need; a missing one fails the test (it never
/// skips), naming the command that sets it.
public func requiredEnvironment(_ name: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw TestFailure("\(name) is not set: run the tests with Deploy/test, which starts the servers and sets it")
    }
    return value
}

/// A port nothing listens on right now (the kernel's pick for an ephemeral bind).
public func freeLocalPort() throws -> Int {
    #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard descriptor >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
            bind(descriptor, generic, length) == 0 && getsockname(descriptor, generic, &length) == 0
        }
    }
    guard bound else { throw TestFailure("could not bind a local port: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A counter shared by a test's concurrent tasks.
public final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    /// Adds one and returns the value before.
    public func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
    public var current: Int { value.load(ordering: .relaxed) }
}

// What every libFuzzer target in Tests/Fuzz shares: the two C entry points, seed writing, and how a
// broken property is reported. Deploy/fuzz compiles this file into every target, next to the one
// target file that defines
//   func fuzzTarget(_ bytes: [UInt8])                        — one input; traps only on a real bug;
//   func seeds() throws -> [(name: String, bytes: [UInt8])]  — valid inputs built with the real code.
//
// Seeds: with FUZZ_WRITE_SEEDS=<dir> set, the binary writes its seeds into <dir> and exits instead of
// fuzzing, so a fresh working corpus always starts from inputs the current code accepts.

import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzTarget(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    if let directory = getenv("FUZZ_WRITE_SEEDS") {
        exit(writeSeeds(to: String(cString: directory)) ? 0 : 1)
    }
    return 0
}

/// A broken property: libFuzzer saves the input that reached this. `input` is shown in hex.
func propertyFailed(_ message: String, input: [UInt8]) -> Never {
    fatalError("fuzz: \(message); input \(hex(input))")
}

/// What the async `body` returns, waited for on libFuzzer's (synchronous) thread.
func waitFor<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let box = ResultBox<Value>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    guard let value = box.value else { fatalError("fuzz: the awaited task ended without a value") }
    return value
}

/// Carries the task's result to the waiting thread; the semaphore orders the write before the read.
private final class ResultBox<Value: Sendable>: @unchecked Sendable {
    var value: Value?
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    for byte in bytes.prefix(256) {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0F)])
    }
    return bytes.count > 256 ? text + "…" : text
}

func writeSeeds(to directory: String) -> Bool {
    let list: [(name: String, bytes: [UInt8])]
    do {
        list = try seeds()
    } catch {
        print("fuzz: cannot build the seeds: \(error)")
        return false
    }
    for seed in list {
        let path = directory + "/" + seed.name
        guard let file = fopen(path, "wb") else {
            print("fuzz: cannot create \(path)")
            return false
        }
        let written = seed.bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        guard fclose(file) == 0, written == seed.bytes.count else {
            print("fuzz: cannot write \(path)")
            return false
        }
    }
    print("fuzz: wrote \(list.count) seeds to \(directory)")
    return true
}

// The fuzz driver. Built two ways (ops/fuzz.sh):
// - by `swift build` as a small tool: `rill-fuzz seeds TARGET DIR` writes a target's seed inputs,
//   `rill-fuzz replay TARGET FILE...` runs inputs through it (a crash is a trap, as under the fuzzer);
// - with `-sanitize=fuzzer -DRILL_LIBFUZZER` (scratch path .build-fuzz): libFuzzer's own main calls
//   `LLVMFuzzerTestOneInput`, and RILL_FUZZ_TARGET names the target.
import FuzzTargets

#if canImport(Glibc)
import Glibc
#endif

/// To standard error (fd 2; the C `stderr` global is not concurrency-safe in Swift 6).
func warn(_ text: String) {
    _ = text.withCString { write(2, $0, strlen($0)) }
}

#if RILL_LIBFUZZER
nonisolated(unsafe) var selected: FuzzTarget = .kafkaRequest

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    guard let name = getenv("RILL_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        warn("set RILL_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n")
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's driver, called from the executable's entry point: SwiftPM links an executable's
/// `main` to `<module>_main` (so tests can import executables), which libFuzzer's own `main`
/// cannot stand in for.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("rill_fuzz_main")
public func rillFuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    _ = fuzzerInitialize(&count, &vector)
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in fuzzerTestOneInput(data, size) }
}
#else
@main
struct RillFuzz {
    static func main() {
        let args = CommandLine.arguments
        guard args.count >= 3, let target = FuzzTarget(rawValue: args[2]) else { usage() }
        switch args[1] {
        case "seeds" where args.count == 4:
            for (n, input) in target.seeds().enumerated() {
                write("\(args[3])/seed-\(n)", input)
            }
        case "replay":
            var reached = 0
            for path in args.dropFirst(3) where target.run(read(path)) { reached += 1 }
            print("\(args.count - 3) inputs, \(reached) past the first check, no crash")
        default:
            usage()
        }
    }

    static func usage() -> Never {
        warn("usage: rill-fuzz seeds TARGET DIR | replay TARGET FILE...\ntargets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n")
        exit(64)
    }

    static func read(_ path: String) -> [UInt8] {
        guard let f = fopen(path, "rb") else { warn("cannot read \(path)\n"); exit(1) }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }

    static func write(_ path: String, _ bytes: [UInt8]) {
        guard let f = fopen(path, "wb") else { warn("cannot write \(path)\n"); exit(1) }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
        fclose(f)
    }
}
#endif

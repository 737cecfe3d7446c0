import ArgumentParser
import Raft
import SimulationKit

#if canImport(Glibc)
    @preconcurrency import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `rill-sim`: run the deterministic cluster simulator over many seeds, or replay one with a trace.
///
/// Exit codes (TigerBeetle's VOPR convention): 0 all seeds passed, 127 a node crashed (a
/// precondition trapped), 128 liveness failure, 129 safety violation, 1 a determinism mismatch,
/// 64 bad usage (ArgumentParser's EX_USAGE).
@main
struct RillSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rill-sim",
        abstract: "Deterministic simulation of a Rill cluster: real Raft code, simulated network, disk and clock.",
        discussion: """
            Replay a failure bit for bit with `rill-sim --seed S --trace`. Exit codes: 0 pass, \
            127 crash, 128 liveness, 129 safety, 1 nondeterminism, 64 usage.
            """)

    @Option(name: .long, help: "Run this many seeds, starting at --start.")
    var seeds: Int?

    @Option(name: .long, help: "First seed of a --seeds run.")
    var start: UInt64 = 1

    @Option(name: .long, help: "Run exactly this seed.")
    var seed: UInt64?

    @Option(name: .long, help: "Run the seeds listed in this file (one per line; '#' starts a comment).")
    var regressions: String?

    @Flag(name: .long, help: "Print a readable trace of the run (use with --seed).")
    var trace = false

    @Option(name: .long, help: "Simulated seconds of the safety phase, before the liveness phase.")
    var seconds: UInt64 = 60

    @Option(name: .long, help: "Fix the node count (3 or 5) instead of drawing it.")
    var nodes: Int?

    @Option(name: .long, help: "Fix the number of Raft groups instead of drawing it.")
    var groups: Int?

    @Option(name: .long, help: "Plant a classic bug: \(SimPlantedBug.allCases.map(\.rawValue).joined(separator: ", ")).")
    var plantBug: String?

    @Flag(name: .long, help: "Run every seed twice and require identical trace hashes.")
    var checkDeterminism = false

    @Flag(name: .long, help: "With --trace, also print every delivered message.")
    var traceMessages = false

    @Flag(name: .long, help: "Stop at the first failing seed.")
    var stopOnFailure = false

    @Flag(name: .long, help: "Benchmark: faults off, steady load; report simulated seconds per wall second.")
    var bench = false

    @Option(name: .long, help: "With --bench: microseconds between proposals (over all groups).")
    var benchInterval: UInt64 = 2000

    @Option(name: .long, help: "Scale mode: an idle topic of this many partitions, and the liveness phase keeps the node leading most of them down.")
    var scale: Int = 0

    @Option(name: .long, help: "Turn exactly these client behaviours on instead of drawing them per seed (comma-separated: \(ClientBehaviour.allCases.map(\.rawValue).joined(separator: ", ")); 'none' for none).")
    var clients: String? = nil

    mutating func run() throws {
        var behaviours: Set<ClientBehaviour>? = nil
        if let list = clients {
            var chosen = Set<ClientBehaviour>()
            for name in list.split(separator: ",").map(String.init) where name != "none" {
                guard let b = ClientBehaviour(rawValue: name) else {
                    throw ValidationError("unknown client behaviour '\(name)'; known: \(ClientBehaviour.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                chosen.insert(b)
            }
            behaviours = chosen
        }
        var bug: SimPlantedBug? = nil
        if let name = plantBug {
            guard let b = SimPlantedBug(rawValue: name) else {
                throw ValidationError("unknown bug '\(name)'; known: \(SimPlantedBug.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            bug = b
        }
        var list: [SeedSpec] = []
        if let s = seed { list.append(SeedSpec(seed: s)) }
        if let n = seeds { list.append(contentsOf: (0..<UInt64(max(n, 0))).map { SeedSpec(seed: start + $0) }) }
        if let path = regressions { list.append(contentsOf: try Self.readSeedList(path)) }
        if list.isEmpty { throw ValidationError("give --seed S, --seeds N or --regressions FILE") }
        if let n = nodes, n != 3 && n != 5 { throw ValidationError("--nodes must be 3 or 5") }
        if let g = groups, g < 1 || g > 64 { throw ValidationError("--groups must be in 1...64") }
        if scale < 0 || scale > 20_000 { throw ValidationError("--scale must be in 0...20000") }

        installCrashReporter()
        setvbuf(stdout, nil, _IOLBF, 0)  // progress and traces appear as they happen, even if killed
        let clock = ContinuousClock()
        let began = clock.now
        var failures = 0
        var firstFailure: (position: Int, seed: UInt64)? = nil
        var worstExit: Int32 = 0
        var simulatedNanos: UInt64 = 0
        var readDamage = (flips: 0, found: 0, mended: 0)
        var quiet = (quiesced: 0, woken: 0, leadersCrashed: 0)
        var durabilityChecks = 0
        var transactions = (seeds: 0, committed: 0, aborted: 0, read: 0)
        var movesAsked = 0
        var nodesRemoved = 0
        var catchUpReadsHeld = 0
        var lastReport = began
        for (k, spec) in list.enumerated() {
            let s = spec.seed
            var config = SimConfig(seed: s)
            config.safetySeconds = spec.seconds ?? seconds
            config.nodes = spec.nodes ?? nodes
            config.groups = spec.groups ?? groups
            config.plantedBug = bug
            config.benchmark = bench
            config.traceMessages = traceMessages
            config.benchmarkIntervalMicros = max(benchInterval, 1)
            config.scalePartitions = spec.scale ?? scale
            config.clientBehaviours = behaviours
            CrashContext.set("seed \(s)\(bug.map { " (planted bug \($0.rawValue))" } ?? "")")
            let sink: ((String) -> Void)? = trace ? { print($0) } : nil
            let sim = Simulator(config: config, trace: sink)
            CrashContext.set("seed \(s)\(bug.map { " (planted bug \($0.rawValue))" } ?? ""): \(sim.options)")
            if list.count == 1 && !trace { print("seed \(s): \(sim.options)") }  // the fault mix, first
            let result = sim.run()
            readDamage.flips += result.stats.runningBitFlips
            quiet.quiesced += result.stats.quiescences
            quiet.woken += result.stats.wakes
            quiet.leadersCrashed += result.stats.quiescedLeadersCrashed
            durabilityChecks += result.stats.durabilityChecks
            if result.options.transactions {
                transactions.seeds += 1
                transactions.committed += result.stats.transactionsCommitted
                transactions.aborted += result.stats.transactionsAborted
                transactions.read += result.stats.committedRead
            }
            movesAsked += result.stats.movesAsked
            nodesRemoved += result.stats.nodesRemoved
            catchUpReadsHeld += result.stats.catchUpReadsHeld
            readDamage.found += result.stats.readDamageFound
            readDamage.mended += result.stats.readDamageMended
            simulatedNanos += result.simulatedTime
            if checkDeterminism {
                let again = Simulator(config: config).run()
                if again.traceHash != result.traceHash {
                    print("NONDETERMINISM: seed \(s) gave trace hashes \(hex(result.traceHash)) and \(hex(again.traceHash))")
                    worstExit = max(worstExit, 1)
                    failures += 1
                    if stopOnFailure { break }
                }
            }
            if list.count == 1 || trace {
                print(
                    "seed \(s): \(result.failure.map { "\($0)" } ?? "passed"); trace hash \(hex(result.traceHash)); "
                        + "\(result.stats.events) events, \(result.simulatedTime / 1_000_000) ms simulated, "
                        + "\(result.stats.proposalsAccepted) proposals, \(result.stats.leaderChanges) leader changes, "
                        + "\(result.stats.crashes) crashes, \(result.stats.partitions) partitions; kafka: \(result.stats.kafkaAcked) acknowledged, "
                        + "\(result.stats.kafkaRead) read; producer epoch bumps \(result.stats.producerEpochBumps), zombie sends \(result.stats.zombieSends) "
                        + "(\(result.stats.zombieAcked) acknowledged), stale member requests \(result.stats.staleMemberRequests), client messages lost "
                        + "\(result.stats.clientMessagesLost), late \(result.stats.clientMessagesLate), doubled \(result.stats.clientMessagesDuplicated); groups: \(result.stats.groupGenerations) owned generations, \(result.stats.groupCommits) commits; "
                        + (result.options.transactions ? "transactions: \(result.stats.transactionsCommitted) committed, \(result.stats.transactionsAborted) aborted, \(result.stats.committedRead) records read by read_committed; " : "")
                        + "bit flips while running: \(result.stats.runningBitFlips), damage found by reads \(result.stats.readDamageFound), mended \(result.stats.readDamageMended); "
                        + "replicas quiesced \(result.stats.quiescences) times, woken \(result.stats.wakes); partition moves asked \(result.stats.movesAsked), catch-up reads held by the move throttle \(result.stats.catchUpReadsHeld), nodes decommissioned \(result.stats.nodesRemoved)"
                        + (config.scalePartitions > 0 ? "; liveness crashed the leader of \(result.stats.quiescedLeadersCrashed) quiesced groups" : ""))
            }
            if let f = result.failure {
                failures += 1
                worstExit = max(worstExit, f.exitCode)
                if firstFailure == nil { firstFailure = (k + 1, s) }
                if list.count > 1 {
                    print("FAIL seed \(s): \(f)")
                    print("     fault mix: \(result.options)")
                    print("     replay: swift run -c release rill-sim --seed \(s) --trace --seconds \(config.safetySeconds)"
                        + (config.scalePartitions > 0 ? " --scale \(config.scalePartitions)" : "")
                        + (bug.map { " --plant-bug \($0.rawValue)" } ?? "")
                        + (clients.map { " --clients \($0)" } ?? ""))
                }
                if stopOnFailure { break }
            }
            let t = clock.now
            if (list.count > 1 || bench) && (t - lastReport > .seconds(2) || k + 1 == list.count) {
                lastReport = t
                print(progressLine(done: k + 1, of: list.count, failures: failures, simNanos: simulatedNanos, wall: t - began))
            }
        }
        if list.count > 1 {
            print("replicas quiesced \(quiet.quiesced) times and woken \(quiet.woken) times"
                + (quiet.leadersCrashed > 0 ? "; the liveness phases crashed the leaders of \(quiet.leadersCrashed) quiesced groups, and each elected anew" : ""))
        }
        if list.count > 1 {
            print("restarts checked the acknowledged entries of \(durabilityChecks) groups directly (Simulator+Durability)")
        }
        if list.count > 1 && transactions.seeds > 0 {
            print("transactions in \(transactions.seeds) seeds: \(transactions.committed) committed, \(transactions.aborted) aborted; "
                + "read_committed read \(transactions.read) records (Simulator+Transactions)")
        }
        if list.count > 1 && movesAsked > 0 {
            print("partition moves asked of the controllers (cancels included): \(movesAsked); catch-up reads held by the move throttle: \(catchUpReadsHeld); nodes decommissioned: \(nodesRemoved)")
        }
        if list.count > 1 && readDamage.flips > 0 {
            print("bit flips while running: \(readDamage.flips); damage found by reads: \(readDamage.found), mended while running: \(readDamage.mended)")
        }
        if let ff = firstFailure, list.count > 1 {
            print("first failure: seed \(ff.seed), after \(ff.position) seed(s)")
        }
        if worstExit != 0 { throw ExitCode(worstExit) }
    }

    func progressLine(done: Int, of total: Int, failures: Int, simNanos: UInt64, wall: Duration) -> String {
        let wallMillis = max(Int64(wall.components.seconds) * 1000 + wall.components.attoseconds / 1_000_000_000_000_000, 1)
        let ratio = Int64(simNanos / 1_000_000) / wallMillis
        return "seeds \(done)/\(total), failures \(failures), simulated \(simNanos / 1_000_000_000)s "
            + "in \(wallMillis / 1000).\((wallMillis % 1000) / 100)s wall (\(ratio)x)"
    }

    func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Seeds of a regression file: `SEED [nodes=N] [groups=G] [scale=P] [seconds=S]   # note`, one
    /// per line.
    static func readSeedList(_ path: String) throws -> [SeedSpec] {
        guard let f = fopen(path, "r") else { throw ValidationError("cannot open \(path)") }
        defer { fclose(f) }
        var out: [SeedSpec] = []
        var line: UnsafeMutablePointer<CChar>? = nil
        var cap = 0
        defer { free(line) }
        while getline(&line, &cap, f) > 0 {
            let text = String(cString: line!)
            let code = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = code.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            guard let first = words.first else { continue }
            guard let seed = UInt64(first) else { throw ValidationError("\(path): '\(first)' is not a seed") }
            var spec = SeedSpec(seed: seed)
            for w in words.dropFirst() {
                let kv = w.split(separator: "=")
                guard kv.count == 2, let v = Int(kv[1]) else { throw ValidationError("\(path): bad option '\(w)'") }
                switch kv[0] {
                case "nodes": spec.nodes = v
                case "groups": spec.groups = v
                case "scale": spec.scale = v
                case "seconds" where v > 0: spec.seconds = UInt64(v)
                default: throw ValidationError("\(path): unknown option '\(w)' (nodes=, groups=, scale=, seconds=)")
                }
            }
            out.append(spec)
        }
        return out
    }
}

/// One seed to run, with the options a regression entry pins.
struct SeedSpec {
    var seed: UInt64
    var nodes: Int? = nil
    var groups: Int? = nil
    var scale: Int? = nil
    var seconds: UInt64? = nil
}

import Primitives

/// One node's simulated disk: an append-only journal file. Written bytes sit in a volatile page
/// cache until their fsync completes; a crash keeps only what was synced plus, maybe, a torn prefix
/// of the rest, cut at a sector boundary with garbage in the last sector.
struct SimDisk {
    static let sectorBytes = 512

    private(set) var durable: [UInt8] = []
    private var pending: [(token: Int, bytes: [UInt8])] = []
    private var lastCompletion: SimTime = 0
    private var nextToken = 0
    var random: SeededRandom
    let fsyncLatencyMin: SimTime
    let fsyncLatencyMean: SimTime
    /// Chance (ppm) that a crash keeps a torn prefix of the unsynced bytes rather than none of them.
    let tornWritePPM: UInt32
    /// Chance (ppm) of a very slow fsync (a stalled device).
    let slowFsyncPPM: UInt32

    init(random: SeededRandom, fsyncLatencyMin: SimTime, fsyncLatencyMean: SimTime, tornWritePPM: UInt32,
         slowFsyncPPM: UInt32) {
        self.random = random
        self.fsyncLatencyMin = fsyncLatencyMin
        self.fsyncLatencyMean = fsyncLatencyMean
        self.tornWritePPM = tornWritePPM
        self.slowFsyncPPM = slowFsyncPPM
    }

    /// Write and fsync `bytes`; returns a token and when the fsync completes. Completions are FIFO.
    mutating func writeAndSync(_ bytes: [UInt8], now: SimTime) -> (token: Int, done: SimTime) {
        var latency = fsyncLatencyMin + random.exponential(mean: fsyncLatencyMean)
        if random.chance(ppm: slowFsyncPPM) { latency += 200 * SimDuration.millisecond }
        let done = max(now, lastCompletion) + latency
        lastCompletion = done
        let token = nextToken
        nextToken += 1
        pending.append((token, bytes))
        return (token, done)
    }

    /// The fsync for `token` completed: its bytes (and every earlier write's) are durable.
    mutating func completed(_ token: Int) {
        while let first = pending.first, first.token <= token {
            durable.append(contentsOf: first.bytes)
            pending.removeFirst()
        }
    }

    /// Power loss: unsynced bytes are lost, or a prefix of them survives torn at a sector.
    mutating func crash() {
        let unsynced = pending.flatMap(\.bytes)
        pending.removeAll()
        lastCompletion = 0
        guard !unsynced.isEmpty, random.chance(ppm: tornWritePPM) else { return }
        let keep = Int(random.below(UInt64(unsynced.count + 1)))
        let sectorEnd = min(unsynced.count, ((keep + Self.sectorBytes - 1) / Self.sectorBytes) * Self.sectorBytes)
        var kept = Array(unsynced[0..<sectorEnd])
        // The sector being written when power went may hold a mix of old and new bytes.
        if sectorEnd > keep {
            for i in keep..<sectorEnd { kept[i] = UInt8(truncatingIfNeeded: random.next()) }
        }
        durable.append(contentsOf: kept)
    }

    /// Recovery cut a torn or corrupt tail: the file is truncated to `length`.
    mutating func truncate(to length: Int) {
        precondition(pending.isEmpty, "truncate with writes in flight")
        precondition(length <= durable.count, "truncate to \(length) beyond \(durable.count)")
        durable.removeSubrange(length...)
    }
}

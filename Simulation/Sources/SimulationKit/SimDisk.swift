import Primitives

/// When one node's fsyncs complete. The bytes live in the node's `SimFileSystem`; this models
/// only time: each write+fsync completes after a latency (min + exponential, with occasional
/// stalls), in submission order, as one device queue does.
struct SimDisk {
    private var lastCompletion: SimTime = 0
    private var nextToken = 0
    var random: SeededRandom
    let fsyncLatencyMin: SimTime
    let fsyncLatencyMean: SimTime
    /// Chance (ppm) of a very slow fsync (a stalled device).
    let slowFsyncPPM: UInt32

    init(random: SeededRandom, fsyncLatencyMin: SimTime, fsyncLatencyMean: SimTime, slowFsyncPPM: UInt32) {
        self.random = random
        self.fsyncLatencyMin = fsyncLatencyMin
        self.fsyncLatencyMean = fsyncLatencyMean
        self.slowFsyncPPM = slowFsyncPPM
    }

    /// Submit a write+fsync; returns its token and when it completes. Completions are FIFO.
    mutating func submit(now: SimTime) -> (token: Int, done: SimTime) {
        var latency = fsyncLatencyMin + random.exponential(mean: fsyncLatencyMean)
        if random.chance(ppm: slowFsyncPPM) { latency += 200 * SimDuration.millisecond }
        let done = max(now, lastCompletion) + latency
        lastCompletion = done
        defer { nextToken += 1 }
        return (nextToken, done)
    }

    /// Power loss: the queue is gone.
    mutating func crash() { lastCompletion = 0 }
}

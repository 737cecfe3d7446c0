import Broker
import Primitives
import Raft

extension Simulator {
    /// Encode each destination's messages into one packet through the real peer codec (the bytes
    /// a TLS peer link carries) and put it on the simulated wire: per-link latency with a heavy
    /// tail, loss, duplication, clogs, and partitions. Reordering falls out of the random latencies.
    func send(from i: Int, _ outgoing: [(NodeID, [PeerEnvelope])]) {
        for (to, envelopes) in outgoing where !envelopes.isEmpty {
            let j = Int(to.value) - 1
            precondition(j != i, "n\(i + 1) sending to itself")
            for e in envelopes where e.message.kind == .snapshot { stats.snapshotsSent += 1 }
            transmit(from: i, to: j, PeerPacket.raft(envelopes).encode())
        }
    }

    func transmit(from i: Int, to j: Int, _ bytes: [UInt8]) {
        stats.packetsSent += 1
        if blocked[i][j] || networkRandom.chance(ppm: options.lossPPM) {
            stats.packetsDropped += 1
            return
        }
        queue.schedule(.deliver(to: j, from: i, bytes: bytes), at: now + linkDelay(i, j))
        if networkRandom.chance(ppm: options.duplicatePPM) {
            queue.schedule(.deliver(to: j, from: i, bytes: bytes), at: now + linkDelay(i, j))
        }
    }

    func linkDelay(_ i: Int, _ j: Int) -> SimTime {
        var d = options.latencyMin + networkRandom.exponential(mean: options.latencyMean)
        if networkRandom.chance(ppm: options.tailPPM) { d += networkRandom.exponential(mean: options.tailMean) }
        if clogUntil[i][j] > now { d += clogExtra[i][j] }
        return max(d, 1)
    }

    // MARK: - Partitions

    enum PartitionMode: Int, CaseIterable {
        case isolateOne, split, oneWay, cutLink
    }

    func startPartition() {
        let n = nodes.count
        let mode = PartitionMode(rawValue: Int(faultRandom.below(UInt64(PartitionMode.allCases.count))))!
        var order = Array(0..<n)
        faultRandom.shuffle(&order)
        var side = Array(repeating: false, count: n)
        switch mode {
        case .isolateOne:
            side[order[0]] = true
            for j in 0..<n where j != order[0] { blockBoth(order[0], j) }
        case .split:
            let minority = faultRandom.int(in: 1...max(1, (n - 1) / 2))
            for k in 0..<minority { side[order[k]] = true }
            for a in 0..<n { for b in 0..<n where side[a] && !side[b] { blockBoth(a, b) } }
        case .oneWay:
            // Nodes on one side can send to the other but not hear back (the asymmetric case that
            // livelocks clusters without PreVote/CheckQuorum).
            let count = faultRandom.int(in: 1...max(1, n - 1))
            for k in 0..<count { side[order[k]] = true }
            for a in 0..<n { for b in 0..<n where !side[a] && side[b] { blocked[a][b] = true } }
        case .cutLink:
            blockBoth(order[0], order[1])
        }
        partitionActive = true
        partitionSerial += 1
        stats.partitions += 1
        let sideNames = (0..<n).filter { side[$0] }.map { "n\($0 + 1)" }.joined(separator: ",")
        trace("partition \(mode) [\(mode == .cutLink ? "n\(order[0] + 1)-n\(order[1] + 1)" : sideNames)]")
        queue.schedule(.heal(serial: partitionSerial), at: now + 1 + faultRandom.exponential(mean: options.partitionMean))
    }

    func blockBoth(_ a: Int, _ b: Int) {
        blocked[a][b] = true
        blocked[b][a] = true
    }

    func healPartition() {
        for a in blocked.indices { for b in blocked.indices { blocked[a][b] = false } }
        partitionActive = false
        trace("partition healed")
    }

    func clog() {
        let n = nodes.count
        let a = Int(faultRandom.below(UInt64(n)))
        var b = Int(faultRandom.below(UInt64(n - 1)))
        if b >= a { b += 1 }
        clogUntil[a][b] = now + faultRandom.exponential(mean: options.clogMean)
        clogExtra[a][b] = faultRandom.exponential(mean: options.clogMean / 2)
        trace("link n\(a + 1)->n\(b + 1) clogged")
    }
}

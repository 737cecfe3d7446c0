import KafkaProtocol
import Primitives

/// The simulated network between clients and nodes. Without `clientNetworkFaults` every request
/// and answer arrives once, after the client latency. With it they meet what peer packets meet:
/// some are lost, some arrive late (after the client gave up and retried: a retry and its late
/// original both reach the node, in either order), some arrive twice.
///
/// A Kafka client speaks TCP, which never duplicates or reorders within a connection; the late
/// and duplicated requests stand for a request still in a dead connection's buffers when the
/// client's retry goes out on a new one. Group members' requests are only lost, never late or
/// doubled: a coordinator takes a late member request on its merits (a late OffsetCommit of the
/// current generation moves the commit back in Kafka too), so the group checker could not tell
/// such a replay from a coordinator bug. Their answers may be lost, late or doubled like anyone's.
/// A member whose request or answer the network lost or held back is no longer `steady`: its
/// silence meanwhile (this client has one request in flight, so no heartbeat goes out) is the
/// network's doing, and an expulsion for it is no coordinator bug.
extension Simulator {
    static let clientLossPPM: UInt32 = 20_000
    static let clientLatePPM: UInt32 = 30_000
    static let clientDuplicatePPM: UInt32 = 20_000
    /// Mean extra delay of a late message: comparable to the 2 s request timeout, so many
    /// arrive after their retry.
    static let clientLateMean = 1500 * SimDuration.millisecond

    func sendKafkaRequest(to node: Int, client c: Int, header: RequestHeader, body: [UInt8]) {
        let latency = kafkaLatency()
        // Not replayed: group members' requests, and a transactional producer's requests to its
        // coordinator. Over TCP a request arrives once, in order; a copy arriving late, after
        // the client moved on, would be a request the client never sent at that point: in the
        // classic (v1) transaction protocol an EndTxn names only the producer id and epoch, so a
        // late copy would end the producer's next transaction (KIP-890 part 2 fixes that with an
        // epoch bump per transaction). Its Produce requests are idempotent, and replayed.
        let role = kafkaClients[c].role
        let replayable = role != .member && !(role == .transactional && header.apiKey != ApiKey.produce.rawValue)
        let delays = clientNetworkDelays(latency, lateAndDuplicate: replayable)
        if delays.count != 1 || delays[0] != latency { unsteady(c) }
        for delay in delays {
            queue.schedule(.kafkaRequest(node: node, client: c, header: header, body: body), at: now + delay)
        }
    }

    func sendKafkaReply(to c: Int, correlation: Int32, bytes: [UInt8]) {
        let latency = kafkaLatency()
        let delays = clientNetworkDelays(latency, lateAndDuplicate: true)
        if delays.isEmpty || delays[0] != latency { unsteady(c) }
        for delay in delays {
            queue.schedule(.kafkaReply(client: c, correlation: correlation, bytes: bytes), at: now + delay)
        }
    }

    private func unsteady(_ c: Int) {
        if kafkaClients[c].role == .member { kafkaClients[c].group.steady = nil }
    }

    /// When each copy of a message arrives: none if it is lost, two if it is duplicated.
    private func clientNetworkDelays(_ latency: SimTime, lateAndDuplicate: Bool) -> [SimTime] {
        guard options.clientNetworkFaults else { return [latency] }
        if clientFaultRandom.chance(ppm: Self.clientLossPPM) {
            stats.clientMessagesLost += 1
            return []
        }
        guard lateAndDuplicate else { return [latency] }
        var delays = [latency]
        if clientFaultRandom.chance(ppm: Self.clientLatePPM) {
            delays[0] += clientFaultRandom.exponential(mean: Self.clientLateMean)
            stats.clientMessagesLate += 1
        }
        if clientFaultRandom.chance(ppm: Self.clientDuplicatePPM) {
            delays.append(latency + clientFaultRandom.exponential(mean: Self.clientLateMean))
            stats.clientMessagesDuplicated += 1
        }
        return delays
    }
}

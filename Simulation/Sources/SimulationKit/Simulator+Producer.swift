import Broker
import KafkaProtocol
import NIOCore
import Primitives

/// One batch of the simulated idempotent producer, from its first send until it is settled.
struct SimProducerBatch {
    var epoch: Int16
    var sequence: Int32
    var values: [[UInt8]]
    /// When it was first sent (the delivery timeout counts from there).
    var firstSentAt: SimTime?
    /// Whether a request carrying it is in flight.
    var inFlight = false
}

/// A Produce request in flight: which batch it carries, and whether the zombie sent it.
struct SimProduceRequest {
    var node: Int
    var sentAt: SimTime
    var epoch: Int16
    var sequence: Int32
    var values: [[UInt8]]
    var zombie: Bool
    /// Every earlier batch of its epoch was settled when it was sent: the partition's log held
    /// them all (an acknowledged batch is committed), so OUT_OF_ORDER has no excuse.
    var sentAsOldest: Bool
}

/// The simulated producer's own state: what Kafka's `RecordAccumulator` and `TransactionManager`
/// keep for an idempotent producer.
struct SimProducerState {
    var epoch: Int16 = 0
    var nextSequence: Int32 = 0
    /// Values are `p<n>`, n counting every record the producer ever made.
    var nextRecord = 0
    /// Unsettled batches, oldest sequence first.
    var batches: [SimProducerBatch] = []
    var requests: [Int32: SimProduceRequest] = [:]
    /// Batches given up at an epoch bump, which the zombie (the producer's old incarnation, still
    /// running somewhere) sends again with their old epoch: (batch, sends left).
    var zombieBatches: [(batch: SimProducerBatch, sendsLeft: Int)] = []

    /// Requests of the current epoch in flight (the zombie's and the given-up ones do not count).
    var inFlightCount: Int { requests.values.filter { !$0.zombie && $0.epoch == epoch }.count }
}

/// The idempotent producer, with `SwarmOptions.producerInFlight` requests in flight (Kafka's
/// `max.in.flight.requests.per.connection`, up to 5 with idempotence), acks=all.
/// - A batch whose request timed out or failed is sent again, oldest first; newer batches may
///   have gone out meanwhile, so a retry can arrive after them (the broker answers OUT_OF_ORDER
///   to the newer ones until it has the older, and they are sent again too).
/// - With `producerZombies`: a batch unsettled 5 s after its first send expires; every unsettled
///   batch is given up (its outcome unknown, never sent again with a new sequence) and the epoch
///   is bumped locally with sequences from 0 (librdkafka's and Java's idempotent producers after
///   a delivery timeout, KIP-360). The old incarnation lives on as a zombie that sends the given-up
///   batches again, old epoch and sequences, at random later times.
/// With one in flight and no zombies it is the producer of the older runs, request for request.
extension Simulator {
    static let producerDeliveryTimeout = 5 * SimDuration.second

    func producerStep(_ c: Int, _ client: inout SimKafkaClient) {
        var p = client.producer
        defer { client.producer = p }
        for correlation in p.requests.keys.sorted() where now - p.requests[correlation]!.sentAt > Self.kafkaRequestTimeout {
            // No answer (the node crashed, or the request or its answer was lost): send it again.
            let r = p.requests.removeValue(forKey: correlation)!
            if r.zombie { continue }
            if let k = p.batches.firstIndex(where: { $0.epoch == r.epoch && $0.sequence == r.sequence }) { p.batches[k].inFlight = false }
            client.leaderGuess = nil
        }
        if phase == .liveness || !kafkaTopicReady { return }
        if options.producerZombies { expireBatches(&p) }
        if !p.zombieBatches.isEmpty && clientFaultRandom.chance(1, in: 8) {
            sendZombieBatch(c, &client, &p)
            return
        }
        let next: Int
        if let k = p.batches.firstIndex(where: { !$0.inFlight }) {
            next = k  // a retry, oldest first
        } else if p.batches.count < options.producerInFlight {
            let count = options.producerInFlight == 1 ? 1 : 1 + Int(clientFaultRandom.below(3))
            let values = (0..<count).map { Array("p\(p.nextRecord + $0)".utf8) }
            p.nextRecord += count
            p.batches.append(SimProducerBatch(epoch: p.epoch, sequence: p.nextSequence, values: values))
            p.nextSequence = ProducerState.lastSequence(first: p.nextSequence, count: Int32(count)) &+ 1
            next = p.batches.count - 1
        } else {
            return
        }
        guard p.inFlightCount < options.producerInFlight else { return }
        let node = client.leaderGuess ?? Int(kafkaRandom.below(UInt64(nodes.count)))
        p.batches[next].inFlight = true
        if p.batches[next].firstSentAt == nil { p.batches[next].firstSentAt = now }
        sendProduce(c, &client, &p, p.batches[next], to: node, zombie: false)
    }

    /// Delivery timeout: give every unsettled batch up and bump the epoch.
    private func expireBatches(_ p: inout SimProducerState) {
        guard let oldest = p.batches.first, let sent = oldest.firstSentAt, now - sent > Self.producerDeliveryTimeout else { return }
        trace("kafka: producer gives up \(p.batches.count) batch(es) from sequence \(oldest.sequence) of epoch \(p.epoch); bumps to \(p.epoch + 1)")
        p.zombieBatches += p.batches.map { (batch: $0, sendsLeft: 1 + Int(clientFaultRandom.below(3))) }
        p.batches = []
        p.epoch += 1
        p.nextSequence = 0
        stats.producerEpochBumps += 1
    }

    /// The zombie sends one given-up batch again, with its old epoch, to any node.
    private func sendZombieBatch(_ c: Int, _ client: inout SimKafkaClient, _ p: inout SimProducerState) {
        let k = Int(clientFaultRandom.below(UInt64(p.zombieBatches.count)))
        let batch = p.zombieBatches[k].batch
        p.zombieBatches[k].sendsLeft -= 1
        if p.zombieBatches[k].sendsLeft == 0 { p.zombieBatches.remove(at: k) }
        stats.zombieSends += 1
        sendProduce(c, &client, &p, batch, to: Int(clientFaultRandom.below(UInt64(nodes.count))), zombie: true)
    }

    private func sendProduce(_ c: Int, _ client: inout SimKafkaClient, _ p: inout SimProducerState, _ batch: SimProducerBatch, to node: Int, zombie: Bool) {
        client.correlation += 1
        var w = KafkaWriter()
        let records = batch.values.map { v in (options.kafkaCompaction ? SimKafkaChecker.key(ofValue: v) : nil, v) }
        let bytes = RecordBatch.build(
            records: records, timestamp: Int64(now / SimDuration.millisecond), producerID: client.producerID, producerEpoch: batch.epoch,
            baseSequence: batch.sequence
        ).bytes
        ProduceRequest(acks: -1, timeoutMs: 1500, topicData: [.init(name: Self.kafkaTopic, partitionData: [.init(index: 0, records: bytes)])])
            .encode(&w, version: 8)
        let oldest = !zombie && p.batches.first.map { $0.epoch == batch.epoch && $0.sequence == batch.sequence } == true
        p.requests[client.correlation] = SimProduceRequest(
            node: node, sentAt: now, epoch: batch.epoch, sequence: batch.sequence, values: batch.values, zombie: zombie, sentAsOldest: oldest)
        trace("kafka: \(zombie ? "zombie" : "producer") sends epoch \(batch.epoch) sequence \(batch.sequence)+\(batch.values.count) to n\(node + 1) (request \(client.correlation))")
        let header = RequestHeader(apiKey: ApiKey.produce.rawValue, apiVersion: 8, correlationID: client.correlation, clientID: "sim-\(c)")
        sendKafkaRequest(to: node, client: c, header: header, body: Array(w.buffer.readableBytesView))
    }

    /// A Produce answer reached the producer.
    func producerReply(_ c: Int, correlation: Int32, bytes: [UInt8]) {
        var client = kafkaClients[c]
        defer { kafkaClients[c] = client }
        guard let r = client.producer.requests.removeValue(forKey: correlation) else { return }  // timed out before
        let k = client.producer.batches.firstIndex { $0.epoch == r.epoch && $0.sequence == r.sequence }
        if let k { client.producer.batches[k].inFlight = false }
        var framed = ByteBuffer(bytes: bytes)
        guard !bytes.isEmpty, let body = try? KafkaFrame.next(from: &framed) else {
            if !r.zombie { client.leaderGuess = nil }  // connection closed
            return
        }
        var reader = KafkaReader(body)
        guard (try? reader.int32()) == correlation else {
            checkerKafka.fail("kafka-correlation", "client \(c) got a reply for another request")
            return
        }
        guard let resp = try? ProduceResponse.decode(&reader, version: 8), let part = resp.responses.first?.partitionResponses.first else {
            checkerKafka.fail("kafka-decode", "unreadable Produce response")
            return
        }
        let who = r.zombie ? "the zombie's" : "the"
        trace("kafka: request \(correlation) (epoch \(r.epoch) sequence \(r.sequence)) answered \(part.errorCode) at \(part.baseOffset) by n\(r.node + 1)")
        switch part.errorCode {
        case .none:
            // Acknowledged: durable at these offsets, whoever sent it and whether or not the
            // producer still waits for it.
            for (i, value) in r.values.enumerated() { checkerKafka.acknowledged(offset: part.baseOffset + Int64(i), value: value) }
            stats.kafkaAcked += r.values.count
            if r.zombie { stats.zombieAcked += 1 }
            if let k { client.producer.batches.remove(at: k) }
            if !r.zombie { client.leaderGuess = r.node }
        case .duplicateSequenceNumber:
            // Written before, older than the batches the partition remembers: settled, offset unknown.
            if let k { client.producer.batches.remove(at: k) }
        case .outOfOrderSequenceNumber where k != nil && !r.sentAsOldest:
            break  // an older batch of its epoch was not written when this arrived: sent again after it
        case .outOfOrderSequenceNumber where k != nil, .invalidProducerEpoch where k != nil:
            // A batch of the current epoch sent when every earlier one was acknowledged (so in the
            // log), or refused for an epoch the producer never left: nothing it was told explains
            // this (a lost batch the broker acknowledged, or a forgotten epoch).
            checkerKafka.fail("kafka-idempotence", "n\(r.node + 1) refused \(who) batch of epoch \(r.epoch) sequence \(r.sequence) with \(part.errorCode)")
        case .outOfOrderSequenceNumber, .invalidProducerEpoch:
            break  // given up, or the zombie's: refusing it is right
        default:
            if !r.zombie { client.leaderGuess = nil }
        }
    }
}

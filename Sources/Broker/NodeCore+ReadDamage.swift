import Primitives
import Raft
import Storage

/// A log line about damage a storage read met while the node runs, for the runtime to log: the
/// bytes of entries recovery had verified no longer pass their checksum (bit rot, a latent sector
/// error, a misdirected write). Reported once when found, once when mended.
public struct StorageDamageReport: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// Found by a read: out of service from now on, a peer's copy asked for.
        case found
        /// Mended with a peer's copy, `ticks` after it was found.
        case mended(ticks: UInt64)
        /// No copy came for `ticks`: this node, the partition's leader, hands leadership to `to`,
        /// which holds the entries, so consumers read them there meanwhile.
        case handedOff(to: NodeID, ticks: UInt64)
    }

    public var kind: Kind
    public var group: GroupID
    /// The Kafka topic and partition the group is, when known (nil for the controller).
    public var topic: String?
    public var partition: Int32?
    public var range: ClosedRange<LogIndex>
    /// The segment file holding the damage.
    public var path: String

    public var description: String {
        let what = topic.map { "\($0)/\(partition ?? -1)" } ?? "group \(group.value)"
        let entries = "entries \(range.lowerBound.value)...\(range.upperBound.value) of \(what) (group \(group.value)) in \(path)"
        switch kind {
        case .found:
            return "damaged data found at read time: \(entries) fail their checksum; kept out of service (fetches there answer "
                + "KAFKA_STORAGE_ERROR, clients retry) and asking a peer for a copy"
        case .mended(let ticks):
            return "damaged data mended from a peer's copy \(ticks) ticks after it was found: \(entries)"
        case .handedOff(let to, let ticks):
            return "damaged data still unmended \(ticks) ticks after it was found: handing leadership to node \(to.value), "
                + "which holds a copy, so consumers read there meanwhile: \(entries)"
        }
    }
}

/// Damage found at read time (`PartitionLog+ReadDamage`): the core learns it from a completion
/// as a value, marks it as recovery would (`Group.damage`), asks a peer for a copy at once — the
/// same `RepairMessage` path that mends damage found at recovery — and reports it once, and once
/// more when it is mended. Nothing is cut: the entries may have been acknowledged.
extension NodeCore {
    /// Damage a completion carried: found runs (to report) and the groups' damage as storage
    /// holds it now.
    func noteDamage(found: [(GroupID, PartitionLog.DamageFound)], damage: [(GroupID, [ClosedRange<LogIndex>])], sequence: UInt64) {
        for (gid, runs) in damage { group(gid)?.damage = runs }
        var asked: [GroupID] = []
        for (gid, d) in found {
            let place = partition(of: gid)
            let report = StorageDamageReport(kind: .found, group: gid, topic: place?.0, partition: place?.1, range: d.range, path: d.path)
            damageReports.append(report)
            readDamage.append((report, ticks, sequence, false))
            guard let g = group(gid) else { continue }
            if !g.damage.contains(where: { $0.overlaps(d.range) }) { g.damage.append(d.range) }
            if !asked.contains(gid) {
                asked.append(gid)
                askForRepair(g)
            }
        }
    }

    /// After a batch (its `damage` already taken): damage found at read time that storage no
    /// longer holds is reported mended (or gone, when the entries left the log otherwise). A batch
    /// storage ran before the read that found the damage knows nothing of it: the damage stays.
    func noteMended(_ c: StorageCompletion) {
        guard !readDamage.isEmpty else { return }
        readDamage.removeAll { (report, since, found, _) in
            guard let g = group(report.group) else { return true }  // the group went (topic deleted)
            if g.damage.contains(where: { $0.overlaps(report.range) }) { return false }
            if c.sequence < found {
                g.damage.append(report.range)
                g.damage.sort { $0.lowerBound < $1.lowerBound }
                return false
            }
            if c.repaired.contains(report.group) {
                var mended = report
                mended.kind = .mended(ticks: ticks - since)
                damageReports.append(mended)
            }
            return true
        }
    }

    /// On a tick: a partition this node leads whose damage found at read time is still not mended
    /// after a few rounds of asking goes to a voter that holds the entries (once per damage), so
    /// consumers read them there while the copy is awaited. Nothing else changes: the damage stays
    /// marked, out of service, and asked for.
    func handOffUnmendedDamage() {
        let wait = UInt64(BrokerLimits.readDamageHandOffElectionTimeouts * config.raftTemplate.electionTicks)
        for k in readDamage.indices where !readDamage[k].handedOff && ticks - readDamage[k].tick >= wait {
            let report = readDamage[k].report
            guard let g = group(report.group), g.withRaft({ $0.role }) == .leader else { continue }
            readDamage[k].handedOff = true
            let voters = g.withRaft { $0.membership.voters }.filter { $0 != config.id }.sorted()
            guard let target = voters.first(where: { v in (g.withRaft { $0.matchIndex(of: v) } ?? .zero) >= report.range.upperBound }),
                (try? g.raft.transferLeadership(to: target)) != nil
            else { continue }
            var handed = report
            handed.kind = .handedOff(to: target, ticks: ticks - readDamage[k].tick)
            damageReports.append(handed)
        }
    }

    private func partition(of gid: GroupID) -> (String, Int32)? {
        for t in controller.topics {
            if let p = t.partitions.first(where: { $0.group == gid }) { return (t.name, p.partition) }
        }
        return nil
    }
}

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
            readDamage.append((report, ticks, sequence))
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
        readDamage.removeAll { (report, since, found) in
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

    private func partition(of gid: GroupID) -> (String, Int32)? {
        for t in controller.topics {
            if let p = t.partitions.first(where: { $0.group == gid }) { return (t.name, p.partition) }
        }
        return nil
    }
}

/// Consumer-group safety, seen from the simulated members (who each know only their own part):
/// - within a generation, a partition is given to at most one member;
/// - committed offsets never go backwards: every commit acknowledged in a generation is at least
///   every commit acknowledged in an earlier one, whatever order the acknowledgements arrive in;
/// - no acknowledged commit is lost, also across coordinator failovers: the committed offset a
///   member fetches when it takes a partition over is at least every commit acknowledged in the
///   generations before;
/// - a member that keeps heartbeating and whose application polls within the rebalance timeout
///   is never dropped from the group (dropped, it would go on reading what another is given).
struct SimGroupChecker {
    /// Generation → the member given partition 0 in it.
    private var owners: [Int32: Int] = [:]
    /// Per generation: the lowest and highest offset acknowledged or fetched in it.
    private var range: [Int32: (low: Int64, high: Int64)] = [:]
    /// Per generation: the lowest committed offset a member fetched when taking over.
    private var fetchedLow: [Int32: Int64] = [:]
    private(set) var failure: SimFailure?
    private(set) var acknowledged = 0
    private(set) var generations = 0

    private mutating func fail(_ property: String, _ detail: String) {
        if failure == nil { failure = .safety(property: property, detail: detail) }
    }

    /// The coordinator dropped a member that heartbeated and rejoined in time (see
    /// `Simulator.groupMemberReply`): it may still be reading a partition that another member
    /// is given — the overlap behind a CI failure of the Swift consumer.
    mutating func expelledWhileLive(member: Int, generation: Int32, detail: String) {
        fail("group-member-expelled-while-live", "member \(member) (generation \(generation)) \(detail)")
    }

    mutating func assigned(generation: Int32, member: Int) {
        if let other = owners[generation], other != member {
            fail("group-exclusive-ownership", "generation \(generation) gave partition 0 to member \(other) and to member \(member)")
        }
        if owners[generation] == nil { generations += 1 }
        owners[generation] = member
    }

    /// An OffsetCommit acknowledged (`fetched`: false) or an OffsetFetch answer when taking a
    /// partition over (`fetched`: true) in `generation`.
    mutating func observed(_ offset: Int64, generation: Int32, member: Int, fetched: Bool) {
        if !fetched { acknowledged += 1 }
        for g in range.keys.sorted() {
            let r = range[g]!
            // A takeover fetch must see every acknowledged commit before it, its own generation's too
            // (only the owner commits, and it waits for each answer before fetching again).
            if (g < generation || (fetched && g == generation)) && r.high > offset {
                fail(fetched ? "group-commit-lost" : "group-commit-monotonic",
                     "member \(member) \(fetched ? "fetched" : "committed") \(offset) in generation \(generation), but \(r.high) was acknowledged in generation \(g)")
            }
            if g > generation && r.low < offset && !fetched {
                fail("group-commit-monotonic", "member \(member) committed \(offset) in generation \(generation), after generation \(g) went from \(r.low)")
            }
        }
        if fetched {
            fetchedLow[generation] = min(fetchedLow[generation] ?? offset, offset)
            return
        }
        // An acknowledgement that arrives after a later generation's takeover fetched less.
        for g in fetchedLow.keys.sorted() where g > generation && fetchedLow[g]! < offset {
            let low = fetchedLow[g]!
            fail("group-commit-lost", "member \(member)'s commit of \(offset) in generation \(generation) was acknowledged, but generation \(g) fetched \(low)")
        }
        let r = range[generation] ?? (offset, offset)
        range[generation] = (min(r.low, offset), max(r.high, offset))
    }
}

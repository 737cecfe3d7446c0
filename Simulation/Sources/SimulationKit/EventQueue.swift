/// Simulated time in nanoseconds since the start of a run.
public typealias SimTime = UInt64

public enum SimDuration {
    public static let microsecond: SimTime = 1_000
    public static let millisecond: SimTime = 1_000_000
    public static let second: SimTime = 1_000_000_000
}

/// The world's single event queue, ordered by (time, sequence): ties run in the order they were
/// scheduled, as NIO's EmbeddedEventLoop and FoundationDB's sim2 do, so a seed replays exactly.
struct EventQueue<Event> {
    private struct Item {
        var time: SimTime
        var seq: UInt64
        var event: Event
        func before(_ o: Item) -> Bool { time < o.time || (time == o.time && seq < o.seq) }
    }

    private var heap: [Item] = []
    private var nextSeq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var nextTime: SimTime? { heap.first?.time }

    mutating func schedule(_ event: Event, at time: SimTime) {
        heap.append(Item(time: time, seq: nextSeq, event: event))
        nextSeq += 1
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].before(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (time: SimTime, event: Event)? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < heap.count && heap[l].before(heap[m]) { m = l }
                if r < heap.count && heap[r].before(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return (top.time, top.event)
    }
}

import NIOConcurrencyHelpers
import NIOCore

/// The hand-over from callers (any thread) to the producer's event loop. Records queue here under
/// a lock and one scheduled drain moves all of them onto the loop, so a burst of sends costs one
/// wake-up instead of one per record. It also keeps the two counts callers wait on: bytes
/// buffered (back-pressure) and records not yet acknowledged or failed (`flush`).
final class ProducerIntake: @unchecked Sendable {
    enum Offer {
        /// Taken; when `drain` is true the caller must schedule a drain on the loop.
        case accepted(drain: Bool)
        case full
        case closed
    }

    private let lock = NIOLock()
    private let limit: Int
    private var pending: [(ProducerRecord, Delivery)] = []
    private var drainScheduled = false
    private var bufferedBytes = 0
    private var outstanding = 0
    private var roomWaiters: [CheckedContinuation<Void, Never>] = []
    private var flushWaiters: [EventLoopPromise<Void>] = []
    private var closed = false

    init(limit: Int) { self.limit = limit }

    /// Take a record if the buffer has room (an empty buffer always has room for one record).
    func offer(_ record: ProducerRecord, size: Int, delivery: Delivery) -> Offer {
        lock.withLock {
            if closed { return .closed }
            if bufferedBytes > 0 && bufferedBytes + size > limit { return .full }
            bufferedBytes += size
            outstanding += 1
            pending.append((record, delivery))
            if drainScheduled { return .accepted(drain: false) }
            drainScheduled = true
            return .accepted(drain: true)
        }
    }

    /// Return once `size` more bytes would fit (or the producer closed); the caller offers again.
    func waitForRoom(size: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = lock.withLock { () -> Bool in
                if closed || bufferedBytes == 0 || bufferedBytes + size <= limit { return true }
                roomWaiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    /// On the loop: everything offered since the last drain, in order.
    func take() -> [(ProducerRecord, Delivery)] {
        lock.withLock {
            drainScheduled = false
            defer { pending = [] }
            return pending
        }
    }

    /// Records acknowledged or failed: free their bytes, wake waiters.
    func finished(bytes: Int, records: Int) {
        let (room, flushed) = lock.withLock { () -> ([CheckedContinuation<Void, Never>], [EventLoopPromise<Void>]) in
            bufferedBytes -= bytes
            outstanding -= records
            precondition(bufferedBytes >= 0 && outstanding >= 0, "producer accounting went negative")
            defer { roomWaiters = [] }
            if outstanding == 0 {
                defer { flushWaiters = [] }
                return (roomWaiters, flushWaiters)
            }
            return (roomWaiters, [])
        }
        for c in room { c.resume() }
        for f in flushed { f.succeed(()) }
    }

    /// Complete `done` once nothing is outstanding.
    func whenIdle(_ done: EventLoopPromise<Void>) {
        let now = lock.withLock { () -> Bool in
            if outstanding == 0 { return true }
            flushWaiters.append(done)
            return false
        }
        if now { done.succeed(()) }
    }

    func close() {
        let room = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            closed = true
            defer { roomWaiters = [] }
            return roomWaiters
        }
        for c in room { c.resume() }
    }
}

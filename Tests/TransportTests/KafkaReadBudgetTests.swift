import Testing

@testable import Transport

/// Backpressure on a Kafka connection (`KafkaReadBudget`): reading stops past the unanswered
/// bytes or requests, and resumes as answers go out, whatever their order.
struct KafkaReadBudgetTests {
    @Test("reading stops once the unanswered bytes reach the budget and resumes when an answer frees room")
    func bytes() {
        var b = KafkaReadBudget(bytesMax: 1000, requestsMax: 100)
        #expect(b.mayRead)
        b.read(0, size: 600)
        #expect(b.mayRead)
        b.read(1, size: 600)
        #expect(!b.mayRead && b.bytes == 1200)
        b.answered(1)  // out of order: the later one first
        #expect(b.mayRead && b.bytes == 600)
        b.answered(1)  // twice: no effect
        #expect(b.bytes == 600)
        b.answered(0)
        #expect(b.bytes == 0 && b.pending == 0)
    }

    @Test("many small unanswered requests stop reading too")
    func requests() {
        var b = KafkaReadBudget(bytesMax: 1 << 30, requestsMax: 3)
        for s in 0..<3 { b.read(UInt64(s), size: 10) }
        #expect(!b.mayRead)
        b.answered(2)
        #expect(b.mayRead)
    }
}

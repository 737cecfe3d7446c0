import KafkaProtocol
import NIOCore
import Testing

@testable import RillClient

struct ConnectionTests {
    @Test("a response to a flexible request has its header's tagged fields skipped; a classic header has none")
    func responseHeaders() async throws {
        let client = try KafkaClient(bootstrap: ["127.0.0.1:1"])
        let loop = await client.group.next()
        let handler = ReplyHandler(address: "test")
        let classic = loop.makePromise(of: ByteBuffer.self)
        let flexible = loop.makePromise(of: ByteBuffer.self)
        func frame(_ correlation: Int32, flexible: Bool, body: Int16) -> ByteBuffer {
            var w = KafkaWriter()
            ResponseHeader.encode(&w, correlationID: correlation, flexible: flexible)
            w.int16(body)
            return w.buffer
        }
        // Out of order on purpose: the correlation id picks the request (and so the header version).
        let frames = [frame(2, flexible: true, body: 7), frame(1, flexible: false, body: 8), frame(3, flexible: false, body: 9)]
        let answered = try await loop.submit {
            handler.expect(1, flexibleHeader: false, classic)
            handler.expect(2, flexibleHeader: true, flexible)
            return frames.map { handler.reply($0) }
        }.get()
        #expect(answered == [true, true, false])
        #expect(try await flexible.futureResult.get() == ByteBuffer(bytes: [0, 7]))
        #expect(try await classic.futureResult.get() == ByteBuffer(bytes: [0, 8]))
        await client.shutdown()
    }
}

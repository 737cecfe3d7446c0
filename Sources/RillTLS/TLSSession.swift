import COpenSSL

/// One TLS connection driven entirely through memory: ciphertext from the network goes in with
/// `receive`, ciphertext for the network comes out of `takeOutbound`, plaintext goes through
/// `write` and `read`. No sockets, no threads: the NIO handler (or a test) moves the bytes, which
/// is how swift-nio-ssl drives BoringSSL too.
///
/// Not thread-safe: one owner (the channel's event loop).
public final class TLSSession {
    public enum HandshakeProgress: Equatable {
        /// Needs more bytes from the peer (send `takeOutbound()` first).
        case incomplete
        case complete
    }

    public enum ReadResult: Equatable {
        /// Plaintext (possibly empty: nothing decryptable yet).
        case data([UInt8])
        /// The peer sent close_notify: no more data will come.
        case closed
    }

    let ssl: OpaquePointer
    let inbound: OpaquePointer   // network → OpenSSL
    let outbound: OpaquePointer  // OpenSSL → network
    public let role: TLSRole
    public private(set) var handshakeComplete = false
    private let context: TLSContext  // keeps the SSL_CTX alive as long as the session

    init(context: TLSContext) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.ctx), let rbio = BIO_new(BIO_s_mem()), let wbio = BIO_new(BIO_s_mem()) else {
            throw .configuration("cannot create a TLS session: \(drainOpenSSLErrors())")
        }
        self.ssl = ssl
        self.inbound = rbio
        self.outbound = wbio
        self.role = context.role
        self.context = context
        SSL_set_bio(ssl, rbio, wbio)  // the session owns both BIOs now
        if context.role == .client { SSL_set_connect_state(ssl) } else { SSL_set_accept_state(ssl) }
    }

    deinit { SSL_free(ssl) }

    /// Ciphertext that arrived from the peer.
    public func receive(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        let n = BIO_write(inbound, bytes.baseAddress, Int32(bytes.count))
        precondition(n == bytes.count, "memory BIO refused \(bytes.count) bytes")
    }

    public func receive(_ bytes: [UInt8]) { bytes.withUnsafeBytes { receive($0) } }

    /// Ciphertext waiting to go to the peer (handshake records, alerts, data, close_notify).
    public func takeOutbound() -> [UInt8] { PEM.drain(outbound) }

    public var hasOutbound: Bool { BIO_ctrl_pending(outbound) > 0 }

    /// Advance the handshake with what has been received. On failure the reason says why in
    /// OpenSSL's words, with the certificate verification result when that was the cause; an
    /// alert for the peer may be waiting in `takeOutbound()`.
    public func handshake() throws(TLSError) -> HandshakeProgress {
        if handshakeComplete { return .complete }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            handshakeComplete = true
            return .complete
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .incomplete }
        var reason = failureReason()
        // OpenSSL's words when the first bytes are not a TLS record at all.
        if ["http request", "wrong version number"].contains(where: reason.contains) {
            reason += " (the peer is not speaking TLS: plaintext on a TLS port?)"
        }
        throw .handshakeFailed(reason)
    }

    /// Encrypt plaintext; the records are then in `takeOutbound()`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) {
        precondition(handshakeComplete, "TLS write before the handshake completed")
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let chunk = min(bytes.count - offset, Int(Int32.max))
            let n = SSL_write(ssl, bytes.baseAddress! + offset, Int32(chunk))
            guard n > 0 else { throw .failed("write: \(failureReason())") }
            offset += Int(n)
        }
    }

    public func write(_ bytes: [UInt8]) throws(TLSError) {
        var failure: TLSError?
        bytes.withUnsafeBytes { b in
            do throws(TLSError) { try write(b) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Decrypt whatever whole records have arrived.
    public func read() throws(TLSError) -> ReadResult {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            ERR_clear_error()
            let n = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if n > 0 {
                out.append(contentsOf: buffer[0..<Int(n)])
                continue
            }
            let error = SSL_get_error(ssl, n)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .data(out) }
            if error == SSL_ERROR_ZERO_RETURN { return out.isEmpty ? .closed : .data(out) }
            throw .failed("read: \(failureReason())")
        }
    }

    public enum ReadStep: Equatable {
        /// `n` plaintext bytes were written to the buffer.
        case bytes(Int)
        /// No whole record is buffered: wait for more ciphertext.
        case wantMore
        /// The peer sent close_notify.
        case closed
    }

    /// Decrypt into `into` (at most its size); the zero-copy path the NIO handler uses.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> ReadStep {
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if n > 0 { return .bytes(Int(n)) }
        let error = SSL_get_error(ssl, n)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .wantMore }
        if error == SSL_ERROR_ZERO_RETURN { return .closed }
        throw .failed("read: \(failureReason())")
    }

    /// Ciphertext received and not yet decrypted.
    public var inboundCount: Int { Int(BIO_ctrl_pending(inbound)) }

    /// Bytes waiting in the outbound BIO.
    public var outboundCount: Int { Int(BIO_ctrl_pending(outbound)) }

    /// Move up to `into.count` bytes of outbound ciphertext into `into`; returns how many.
    public func takeOutbound(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = BIO_read(outbound, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return max(0, Int(n))
    }

    /// Start a clean close: a close_notify alert goes to `takeOutbound()`.
    public func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// The peer's certificate, once the handshake is complete (nil when it sent none).
    public var peerCertificate: PeerCertificate? {
        guard let x = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(x) }
        return PeerCertificate(x)
    }

    /// The negotiated protocol ("TLSv1.3").
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    private func failureReason() -> String {
        let verify = SSL_get_verify_result(ssl)
        let queue = drainOpenSSLErrors()
        if verify != X509_V_OK {
            return "peer certificate: \(String(cString: X509_verify_cert_error_string(verify))) (\(queue))"
        }
        return queue
    }
}

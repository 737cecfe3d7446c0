import COpenSSL

/// Why TLS failed, in words an operator can act on. Every case names the reason OpenSSL gave (its
/// error queue, or the certificate verification result) rather than a bare code.
public enum TLSError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A certificate, key or CA file could not be read or does not fit.
    case configuration(String)
    /// The handshake failed: a certificate from another CA, an expired one, plaintext on a TLS
    /// port, a protocol version below TLS 1.3, ...
    case handshakeFailed(String)
    /// The handshake completed but the peer is not who it must be (wrong node id).
    case peerRejected(String)
    /// The handshake did not finish before its deadline.
    case handshakeTimedOut(milliseconds: Int64)
    /// The connection closed before the handshake finished.
    case closedDuringHandshake
    /// Reading or writing application data failed after the handshake.
    case failed(String)

    public var description: String {
        switch self {
        case .configuration(let s): return "TLS configuration: \(s)"
        case .handshakeFailed(let s): return "TLS handshake failed: \(s)"
        case .peerRejected(let s): return "TLS peer rejected: \(s)"
        case .handshakeTimedOut(let ms): return "TLS handshake timed out after \(ms) ms"
        case .closedDuringHandshake: return "connection closed during the TLS handshake"
        case .failed(let s): return "TLS failed: \(s)"
        }
    }
}

/// OpenSSL keeps errors in a per-thread queue. Take them all (oldest first), leaving it empty.
func drainOpenSSLErrors() -> String {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        reasons.append(cString(buffer))
    }
    return reasons.isEmpty ? "no reason given" : reasons.joined(separator: "; ")
}

/// A NUL-terminated C buffer as a String.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

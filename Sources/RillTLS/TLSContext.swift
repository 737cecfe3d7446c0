import COpenSSL

/// Which side of the handshake a session takes.
public enum TLSRole: Sendable {
    case client
    case server
}

/// PEM-encoded identity and trust for one side of a connection.
public struct TLSConfiguration: Sendable {
    /// This node's certificate (PEM). Nil for a client that presents none.
    public var certificatePEM: [UInt8]?
    /// The private key of the certificate (PEM).
    public var privateKeyPEM: [UInt8]?
    /// CA certificates (PEM) that peer certificates must chain to. Nil: the peer is not verified
    /// (only for a plaintext-equivalent dev client listener; peer links always set it).
    public var trustedCAPEM: [UInt8]?
    /// Whether the server asks for, and requires, a client certificate (mutual TLS).
    public var requireClientCertificate: Bool
    /// Lowest protocol version accepted. Peer links: TLS 1.3 only.
    public var minimumVersion: Version

    public enum Version: Sendable {
        case tls12
        case tls13
    }

    public init(
        certificatePEM: [UInt8]?, privateKeyPEM: [UInt8]?, trustedCAPEM: [UInt8]?,
        requireClientCertificate: Bool, minimumVersion: Version = .tls13
    ) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.trustedCAPEM = trustedCAPEM
        self.requireClientCertificate = requireClientCertificate
        self.minimumVersion = minimumVersion
    }

    /// Peer links: TLS 1.3, this node's certificate, peers verified against the cluster CA both ways.
    public static func peerLink(certificatePEM: [UInt8], privateKeyPEM: [UInt8], clusterCAPEM: [UInt8]) -> Self {
        TLSConfiguration(
            certificatePEM: certificatePEM, privateKeyPEM: privateKeyPEM, trustedCAPEM: clusterCAPEM,
            requireClientCertificate: true, minimumVersion: .tls13)
    }
}

/// An OpenSSL `SSL_CTX`: certificates and settings shared by every session of one listener or
/// dialer. Immutable once built; OpenSSL allows creating sessions from it on any thread.
public final class TLSContext: @unchecked Sendable {
    let ctx: OpaquePointer
    public let role: TLSRole

    public init(role: TLSRole, configuration c: TLSConfiguration) throws(TLSError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_method()) else { throw .configuration("cannot create an SSL context: \(drainOpenSSLErrors())") }
        self.ctx = ctx
        self.role = role
        let minimum = c.minimumVersion == .tls13 ? rill_tls1_3_version() : rill_tls1_2_version()
        guard rill_SSL_CTX_set_min_proto_version(ctx, minimum) == 1 else {
            throw .configuration("cannot set the minimum TLS version: \(drainOpenSSLErrors())")
        }
        // Writes come from ByteBuffers that may move between retries.
        _ = rill_SSL_CTX_set_mode(ctx, rill_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER())
        // No session tickets: peers reconnect rarely, and tickets are state to protect.
        _ = SSL_CTX_set_num_tickets(ctx, 0)
        if let pem = c.certificatePEM {
            let chain = try PEM.certificates(pem, what: "certificate")
            guard SSL_CTX_use_certificate(ctx, chain[0]) == 1 else {
                throw .configuration("certificate not usable: \(drainOpenSSLErrors())")
            }
            for extra in chain.dropFirst() {
                // The context takes ownership of chain certificates it adds.
                guard SSL_CTX_ctrl(ctx, SSL_CTRL_EXTRA_CHAIN_CERT, 0, UnsafeMutableRawPointer(X509_dup(extra))) == 1 else {
                    throw .configuration("certificate chain not usable: \(drainOpenSSLErrors())")
                }
            }
            defer { chain.forEach { X509_free($0) } }
            guard let keyPEM = c.privateKeyPEM else { throw .configuration("a certificate needs its private key") }
            let key = try PEM.privateKey(keyPEM)
            defer { EVP_PKEY_free(key) }
            guard X509_check_private_key(chain[0], key) == 1 else {
                ERR_clear_error()
                throw .configuration("the private key does not match the certificate")
            }
            guard SSL_CTX_use_PrivateKey(ctx, key) == 1 else {
                throw .configuration("private key not usable: \(drainOpenSSLErrors())")
            }
            guard SSL_CTX_check_private_key(ctx) == 1 else {
                throw .configuration("the private key does not match the certificate")
            }
        } else if role == .server {
            throw .configuration("a TLS server needs a certificate")
        }
        if let caPEM = c.trustedCAPEM {
            let cas = try PEM.certificates(caPEM, what: "CA certificate")
            let store = SSL_CTX_get_cert_store(ctx)
            for ca in cas {
                guard X509_STORE_add_cert(store, ca) == 1 else {
                    throw .configuration("CA certificate not usable: \(drainOpenSSLErrors())")
                }
                X509_free(ca)
            }
            var mode = rill_SSL_VERIFY_PEER()
            if role == .server && c.requireClientCertificate { mode |= rill_SSL_VERIFY_FAIL_IF_NO_PEER_CERT() }
            if role == .server && !c.requireClientCertificate { mode = 0 }
            SSL_CTX_set_verify(ctx, mode, nil)
        } else {
            if role == .server && c.requireClientCertificate {
                throw .configuration("requiring client certificates needs a CA to check them against")
            }
            SSL_CTX_set_verify(ctx, 0, nil)
        }
    }

    deinit { SSL_CTX_free(ctx) }

    /// A new session (one connection) of this context.
    public func makeSession() throws(TLSError) -> TLSSession { try TLSSession(context: self) }
}

import COpenSSL

/// A certificate and its private key, both PEM.
public struct IssuedCertificate: Sendable {
    public var certificatePEM: [UInt8]
    public var privateKeyPEM: [UInt8]
}

/// A cluster CA made with OpenSSL's API (no `openssl` command needed): `rill dev` makes one and
/// issues a certificate per node; tests issue expired, not-yet-valid and foreign ones. Keys are
/// ECDSA P-256, signatures SHA-256. Real deployments may use ops/certs.sh (the openssl CLI) instead.
public final class CertificateAuthority {
    let key: OpaquePointer
    let certificate: OpaquePointer
    public let name: String

    /// A new self-signed CA named `name`, valid for `days` from now.
    public init(name: String, days: Int = 3650) throws(TLSError) {
        ERR_clear_error()
        guard let key = rill_generate_p256_key() else { throw .configuration("key generation failed: \(drainOpenSSLErrors())") }
        self.key = key
        self.name = name
        self.certificate = try Self.build(
            subject: name, publicKey: key, issuer: nil, signer: key, notBefore: -3600, notAfter: Int64(days) * 86400,
            extensions: [
                (NID_basic_constraints, "critical,CA:TRUE"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
            ])
    }

    /// Load a CA from its PEM certificate and key (the files `rill dev` keeps).
    public init(certificatePEM: [UInt8], privateKeyPEM: [UInt8]) throws(TLSError) {
        let certs = try PEM.certificates(certificatePEM, what: "CA certificate")
        certificate = certs[0]
        certs.dropFirst().forEach { X509_free($0) }
        key = try PEM.privateKey(privateKeyPEM)
        var buffer = [CChar](repeating: 0, count: 256)
        _ = X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, &buffer, Int32(buffer.count))
        name = cString(buffer)
    }

    deinit {
        X509_free(certificate)
        EVP_PKEY_free(key)
    }

    public var certificatePEM: [UInt8] { PEM.encode(certificate: certificate) }
    public var privateKeyPEM: [UInt8] { PEM.encode(privateKey: key) }

    /// A certificate for node `id` (common name `rill-node-<id>`), usable as TLS server and
    /// client, with `hosts` as subject alternative names (DNS names or IP addresses). Validity is
    /// in seconds from now: negative `notAfter` makes an expired certificate, positive
    /// `notBefore` one that is not yet valid (both for tests).
    public func issueNodeCertificate(
        node id: UInt32, hosts: [String] = ["localhost", "127.0.0.1"], notBefore: Int64 = -3600,
        notAfter: Int64 = 825 * 86400
    ) throws(TLSError) -> IssuedCertificate {
        try issue(commonName: PeerCertificate.commonName(forNode: id), hosts: hosts, notBefore: notBefore, notAfter: notAfter)
    }

    /// A leaf certificate with any common name (clients, or a wrong name for tests).
    public func issue(commonName: String, hosts: [String], notBefore: Int64 = -3600, notAfter: Int64 = 825 * 86400)
        throws(TLSError) -> IssuedCertificate
    {
        ERR_clear_error()
        guard let leafKey = rill_generate_p256_key() else { throw .configuration("key generation failed: \(drainOpenSSLErrors())") }
        defer { EVP_PKEY_free(leafKey) }
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_key_usage, "critical,digitalSignature,keyEncipherment"),
            (NID_ext_key_usage, "serverAuth,clientAuth"),
            (NID_authority_key_identifier, "keyid"),
        ]
        if !hosts.isEmpty {
            let names = hosts.map { host in
                host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? "IP:\(host)" : "DNS:\(host)"
            }
            extensions.append((NID_subject_alt_name, names.joined(separator: ",")))
        }
        let leaf = try Self.build(
            subject: commonName, publicKey: leafKey, issuer: certificate, signer: key, notBefore: notBefore,
            notAfter: notAfter, extensions: extensions)
        defer { X509_free(leaf) }
        return IssuedCertificate(certificatePEM: PEM.encode(certificate: leaf), privateKeyPEM: PEM.encode(privateKey: leafKey))
    }

    private static func build(
        subject: String, publicKey: OpaquePointer, issuer: OpaquePointer?, signer: OpaquePointer, notBefore: Int64,
        notAfter: Int64, extensions: [(Int32, String)]
    ) throws(TLSError) -> OpaquePointer {
        guard let x = X509_new() else { throw .configuration("out of memory") }
        var ok = X509_set_version(x, 2) == 1  // v3
        // A random 64-bit serial: certificates of one CA must not repeat serials.
        var serialBytes = [UInt8](repeating: 0, count: 8)
        ok = ok && RAND_bytes(&serialBytes, 8) == 1
        serialBytes[0] &= 0x7F  // positive
        if let bn = BN_bin2bn(serialBytes, 8, nil) {
            ok = ok && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil
            BN_free(bn)
        } else {
            ok = false
        }
        ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), Int(notBefore)) != nil
        ok = ok && X509_gmtime_adj(X509_getm_notAfter(x), Int(notAfter)) != nil
        let name = X509_get_subject_name(x)
        ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, "Rill", -1, -1, 0) == 1
        ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, subject, -1, -1, 0) == 1
        ok = ok && X509_set_issuer_name(x, issuer.map { X509_get_subject_name($0) } ?? name) == 1
        ok = ok && X509_set_pubkey(x, publicKey) == 1
        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, issuer ?? x, x, nil, nil, 0)
        for (nid, value) in extensions where ok {
            guard let ext = X509V3_EXT_conf_nid(nil, &v3, nid, value) else {
                ok = false
                break
            }
            ok = X509_add_ext(x, ext, -1) == 1
            X509_EXTENSION_free(ext)
        }
        ok = ok && X509_sign(x, signer, EVP_sha256()) > 0
        guard ok else {
            X509_free(x)
            throw .configuration("cannot build certificate \(subject): \(drainOpenSSLErrors())")
        }
        return x
    }
}

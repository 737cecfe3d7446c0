import COpenSSL

/// Reading and writing PEM through OpenSSL memory BIOs.
enum PEM {
    /// Every certificate in `pem`, in order (caller frees each with `X509_free`).
    static func certificates(_ pem: [UInt8], what: String) throws(TLSError) -> [OpaquePointer] {
        ERR_clear_error()
        let bio = try memoryBIO(pem)
        defer { BIO_free(bio) }
        var out: [OpaquePointer] = []
        while let x = PEM_read_bio_X509(bio, nil, nil, nil) { out.append(x) }
        ERR_clear_error()  // the read past the last certificate leaves "no start line"
        if out.isEmpty { throw .configuration("no \(what) in the PEM data") }
        return out
    }

    /// The private key in `pem` (caller frees with `EVP_PKEY_free`).
    static func privateKey(_ pem: [UInt8]) throws(TLSError) -> OpaquePointer {
        ERR_clear_error()
        let bio = try memoryBIO(pem)
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
            throw .configuration("no private key in the PEM data: \(drainOpenSSLErrors())")
        }
        return key
    }

    static func encode(certificate x: OpaquePointer) -> [UInt8] {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        PEM_write_bio_X509(bio, x)
        return drain(bio)
    }

    static func encode(privateKey key: OpaquePointer) -> [UInt8] {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil)
        return drain(bio)
    }

    static func memoryBIO(_ bytes: [UInt8]) throws(TLSError) -> OpaquePointer {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .configuration("out of memory") }
        let written = bytes.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
        guard written == bytes.count else {
            BIO_free(bio)
            throw .configuration("cannot buffer PEM data")
        }
        return bio
    }

    /// Everything buffered in a memory BIO.
    static func drain(_ bio: OpaquePointer) -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(bio))
        guard pending > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: pending)
        let n = out.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(pending)) }
        return Array(out.prefix(max(0, Int(n))))
    }
}

import NIOCore
import NIOEmbedded
import RillTLS
import Testing

/// A cluster CA with node certificates, made once per test.
struct Cluster {
    let ca: CertificateAuthority
    init(_ name: String = "rill-test-cluster") throws { ca = try CertificateAuthority(name: name) }

    func context(_ role: TLSRole, node: UInt32, notBefore: Int64 = -3600, notAfter: Int64 = 86400, from other: CertificateAuthority? = nil)
        throws -> TLSContext
    {
        let issuer = other ?? ca
        let cert = try issuer.issueNodeCertificate(node: node, notBefore: notBefore, notAfter: notAfter)
        return try TLSContext(
            role: role,
            configuration: .peerLink(
                certificatePEM: cert.certificatePEM, privateKeyPEM: cert.privateKeyPEM, clusterCAPEM: ca.certificatePEM))
    }
}

/// The dialer's check: the peer must be the node it dialed.
func expectNode(_ id: UInt32) -> TLSHandler.PeerCheck {
    { peer in
        guard let got = peer?.nodeID else { return "certificate names no node (\(peer?.commonName ?? "none"))" }
        return got == id ? nil : "certificate is for node \(got), expected node \(id)"
    }
}

struct TLSHandlerTests {
    @Test("mutual TLS 1.3 handshake, both sides learn the other's node id, data flows both ways")
    func handshakeAndData() throws {
        let cluster = try Cluster()
        let pair = try TLSPair(
            client: cluster.context(.client, node: 1), server: cluster.context(.server, node: 2),
            clientCheck: expectNode(2))
        defer { pair.finish() }
        try pair.pump()
        #expect(pair.clientSeen.completedPeers.map { $0?.nodeID } == [2])
        #expect(pair.serverSeen.completedPeers.map { $0?.nodeID } == [1])
        try pair.send(from: pair.client, "hello from 1")
        try pair.send(from: pair.server, "hello from 2")
        try pair.pump()
        #expect(pair.serverSeen.received == Array("hello from 1".utf8))
        #expect(pair.clientSeen.received == Array("hello from 2".utf8))
        #expect(pair.clientSeen.errors.isEmpty && pair.serverSeen.errors.isEmpty)
    }

    @Test("a byte-by-byte drip completes the handshake and carries 100 KB intact")
    func drip() throws {
        let cluster = try Cluster()
        let pair = try TLSPair(client: cluster.context(.client, node: 1), server: cluster.context(.server, node: 2))
        defer { pair.finish() }
        try pair.pump(drip: true)
        #expect(pair.clientSeen.completedPeers.count == 1)
        var payload: [UInt8] = []
        for i in 0..<100_000 { payload.append(UInt8(truncatingIfNeeded: i &* 31 &+ i >> 8)) }
        var b = pair.client.allocator.buffer(capacity: payload.count)
        b.writeBytes(payload)
        try pair.client.writeAndFlush(b).wait()
        try pair.pump(drip: false)
        #expect(pair.serverSeen.received == payload)
        // And the other way, dripped.
        try pair.send(from: pair.server, "drip back")
        try pair.pump(drip: true)
        #expect(pair.clientSeen.received == Array("drip back".utf8))
    }

    @Test("writes made during the handshake are held and delivered after it, in order")
    func heldWrites() throws {
        let cluster = try Cluster()
        let pair = try TLSPair(client: cluster.context(.client, node: 1), server: cluster.context(.server, node: 2))
        defer { pair.finish() }
        var promises: [EventLoopFuture<Void>] = []
        for word in ["one ", "two ", "three"] {
            var b = pair.client.allocator.buffer(capacity: 8)
            b.writeString(word)
            promises.append(pair.client.writeAndFlush(b))
        }
        try pair.pump()
        for p in promises { try p.wait() }
        #expect(pair.serverSeen.received == Array("one two three".utf8))
    }

    @Test("a server certificate from another CA is refused by the client, with the reason")
    func foreignServerCA() throws {
        let cluster = try Cluster()
        let foreign = try CertificateAuthority(name: "someone-elses-cluster")
        let pair = try TLSPair(
            client: cluster.context(.client, node: 1), server: cluster.context(.server, node: 2, from: foreign))
        defer { pair.finish() }
        try pair.pump()
        let error = try #require(pair.clientSeen.tlsErrors.first)
        #expect("\(error)".contains("unable to get local issuer certificate"))
        #expect(pair.clientSeen.completedPeers.isEmpty)
        #expect(!pair.client.isActive)
        // The server hears about it through the alert and closes too.
        #expect(pair.serverSeen.completedPeers.isEmpty)
        #expect(!pair.serverSeen.tlsErrors.isEmpty)
    }

    @Test("a client certificate from another CA is refused by the server")
    func foreignClientCA() throws {
        let cluster = try Cluster()
        let foreign = try CertificateAuthority(name: "someone-elses-cluster")
        let pair = try TLSPair(
            client: cluster.context(.client, node: 1, from: foreign), server: cluster.context(.server, node: 2))
        defer { pair.finish() }
        try pair.pump()
        let error = try #require(pair.serverSeen.tlsErrors.first)
        #expect("\(error)".contains("certificate verify failed") || "\(error)".contains("unable to get local issuer"))
        #expect(pair.serverSeen.completedPeers.isEmpty)
        #expect(pair.serverSeen.received.isEmpty)
    }

    @Test("an expired certificate is refused with 'certificate has expired'")
    func expired() throws {
        let cluster = try Cluster()
        let pair = try TLSPair(
            client: cluster.context(.client, node: 1), server: cluster.context(.server, node: 2, notBefore: -86400 * 2, notAfter: -86400))
        defer { pair.finish() }
        try pair.pump()
        let error = try #require(pair.clientSeen.tlsErrors.first)
        #expect("\(error)".contains("certificate has expired"))
    }

    @Test("a certificate that is not valid yet is refused with 'certificate is not yet valid'")
    func notYetValid() throws {
        let cluster = try Cluster()
        let pair = try TLSPair(
            client: cluster.context(.client, node: 1, notBefore: 86400, notAfter: 86400 * 2),
            server: cluster.context(.server, node: 2))
        defer { pair.finish() }
        try pair.pump()
        let error = try #require(pair.serverSeen.tlsErrors.first)
        #expect("\(error)".contains("certificate is not yet valid"))
    }

    @Test("a peer whose certificate names another node is refused after the handshake")
    func wrongNodeID() throws {
        let cluster = try Cluster()
        let pair = try TLSPair(
            client: cluster.context(.client, node: 1), server: cluster.context(.server, node: 3),
            clientCheck: expectNode(2))
        defer { pair.finish() }
        try pair.pump()
        #expect(pair.clientSeen.tlsErrors == [.peerRejected("certificate is for node 3, expected node 2")])
        #expect(pair.clientSeen.completedPeers.isEmpty)
        #expect(!pair.client.isActive)
    }

    @Test("plaintext on a TLS port is refused, not parsed")
    func plaintext() throws {
        let cluster = try Cluster()
        let server = EmbeddedChannel()
        let seen = Collector()
        try server.pipeline.syncOperations.addHandler(TLSHandler(context: cluster.context(.server, node: 2)))
        try server.pipeline.syncOperations.addHandler(seen)
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        var b = server.allocator.buffer(capacity: 64)
        b.writeBytes([0, 0, 0, 20, 0, 18, 0, 3] + Array("not a TLS record at all".utf8))
        try server.writeInbound(b)
        let error = try #require(seen.tlsErrors.first)
        guard case .handshakeFailed(let reason) = error else {
            Issue.record("expected a handshake failure, got \(error)")
            return
        }
        #expect(reason.contains("plaintext on a TLS port?"), "\(reason)")
        #expect(!server.isActive)
        #expect(seen.received.isEmpty)
        _ = try? server.finish()
    }

    @Test("a handshake that stalls past its deadline is closed with a timeout")
    func stalledHandshake() throws {
        let cluster = try Cluster()
        let pair = try TLSPair(
            client: cluster.context(.client, node: 1), server: cluster.context(.server, node: 2), timeout: .seconds(5))
        defer { pair.finish() }
        // The client's hello never reaches the server: nothing is pumped.
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(pair.serverSeen.tlsErrors.isEmpty)
        pair.server.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(pair.serverSeen.tlsErrors == [.handshakeTimedOut(milliseconds: 5000)])
        #expect(!pair.server.isActive)
    }

    @Test("close sends close_notify; the peer sees a clean end")
    func cleanClose() throws {
        let cluster = try Cluster()
        let pair = try TLSPair(client: cluster.context(.client, node: 1), server: cluster.context(.server, node: 2))
        defer { pair.finish() }
        try pair.pump()
        try pair.send(from: pair.client, "last words")
        try pair.client.close().wait()
        try pair.pump()
        #expect(pair.serverSeen.received == Array("last words".utf8))
        #expect(!pair.server.isActive)
        #expect(pair.serverSeen.errors.isEmpty)
    }
}

struct TLSConfigurationTests {
    @Test("a key that does not match the certificate is a clear configuration error")
    func mismatchedKey() throws {
        let ca = try CertificateAuthority(name: "c")
        let a = try ca.issueNodeCertificate(node: 1)
        let b = try ca.issueNodeCertificate(node: 2)
        #expect(throws: TLSError.configuration("the private key does not match the certificate")) {
            _ = try TLSContext(
                role: .server,
                configuration: .peerLink(certificatePEM: a.certificatePEM, privateKeyPEM: b.privateKeyPEM, clusterCAPEM: ca.certificatePEM))
        }
    }

    @Test("garbage where a certificate should be is named as such")
    func garbage() throws {
        let ca = try CertificateAuthority(name: "c")
        let a = try ca.issueNodeCertificate(node: 1)
        #expect(throws: TLSError.configuration("no certificate in the PEM data")) {
            _ = try TLSContext(
                role: .server,
                configuration: .peerLink(certificatePEM: Array("hello".utf8), privateKeyPEM: a.privateKeyPEM, clusterCAPEM: ca.certificatePEM))
        }
        #expect(throws: TLSError.configuration("no CA certificate in the PEM data")) {
            _ = try TLSContext(
                role: .server,
                configuration: .peerLink(certificatePEM: a.certificatePEM, privateKeyPEM: a.privateKeyPEM, clusterCAPEM: []))
        }
    }

    @Test("a CA saved as PEM loads back and issues certificates its clients trust")
    func caRoundTrip() throws {
        let ca = try CertificateAuthority(name: "saved")
        let loaded = try CertificateAuthority(certificatePEM: ca.certificatePEM, privateKeyPEM: ca.privateKeyPEM)
        #expect(loaded.name == "saved")
        let cert = try loaded.issueNodeCertificate(node: 4)
        let server = try TLSContext(
            role: .server,
            configuration: .peerLink(certificatePEM: cert.certificatePEM, privateKeyPEM: cert.privateKeyPEM, clusterCAPEM: ca.certificatePEM))
        let cluster = Cluster(ca: ca)
        let pair = try TLSPair(client: cluster.context(.client, node: 1), server: server, clientCheck: expectNode(4))
        defer { pair.finish() }
        try pair.pump()
        #expect(pair.clientSeen.completedPeers.map { $0?.nodeID } == [4])
    }
}

extension Cluster {
    init(ca: CertificateAuthority) { self.ca = ca }
}

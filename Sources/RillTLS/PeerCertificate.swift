import COpenSSL

/// What Rill reads from a verified peer certificate: who it names.
public struct PeerCertificate: Equatable, Sendable {
    /// The subject's common name: `rill-node-<id>` for a node certificate.
    public var commonName: String?

    init(_ x: OpaquePointer) {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, &buffer, Int32(buffer.count))
        commonName = n > 0 ? cString(buffer) : nil
    }

    public init(commonName: String?) { self.commonName = commonName }

    /// The node id a node certificate names, or nil when it names none.
    public var nodeID: UInt32? {
        guard let cn = commonName, cn.hasPrefix(Self.nodePrefix) else { return nil }
        let digits = cn.dropFirst(Self.nodePrefix.count)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let id = UInt32(digits), id > 0 else {
            return nil
        }
        return id
    }

    public static let nodePrefix = "rill-node-"
    public static func commonName(forNode id: UInt32) -> String { nodePrefix + String(id) }
}

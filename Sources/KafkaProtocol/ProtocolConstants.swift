/// Values with a meaning the schema cannot say.
extension ListOffsetsRequest {
    /// The special timestamps: latest and earliest (KIP-79), the largest timestamp (KIP-734),
    /// earliest local and latest tiered (KIP-405, KIP-1005).
    public static let latest: Int64 = -1
    public static let earliest: Int64 = -2
    public static let maxTimestamp: Int64 = -3
    public static let earliestLocal: Int64 = -4
    public static let latestTiered: Int64 = -5
}

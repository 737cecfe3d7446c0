import NIOCore

/// ApiVersions (key 18), v0-2. The request body is empty in these versions. Newer clients open
/// with v3/v4; the answer to those is `unsupportedFallback`: a v0-format body with error 35 and
/// this broker's ranges, after which librdkafka retries with v0 and kafka-python with v2.
public struct ApiVersionsResponse: Equatable, Sendable {
    public struct Range: Equatable, Sendable {
        public var apiKey: Int16
        public var minVersion: Int16
        public var maxVersion: Int16
        public init(apiKey: Int16, minVersion: Int16, maxVersion: Int16) {
            self.apiKey = apiKey
            self.minVersion = minVersion
            self.maxVersion = maxVersion
        }
    }

    public var errorCode: Int16
    public var apiKeys: [Range]
    public var throttleTimeMs: Int32

    public init(errorCode: ErrorCode = .none, apiKeys: [Range], throttleTimeMs: Int32 = 0) {
        self.errorCode = errorCode.rawValue
        self.apiKeys = apiKeys
        self.throttleTimeMs = throttleTimeMs
    }

    /// Every implemented API with its advertised range.
    public static func advertised(_ keys: [ApiKey] = ApiKey.allCases) -> ApiVersionsResponse {
        ApiVersionsResponse(
            apiKeys: keys.map { Range(apiKey: $0.rawValue, minVersion: $0.supported.lowerBound, maxVersion: $0.supported.upperBound) })
    }

    /// The answer to an ApiVersions version this broker does not speak: error 35, v0 layout.
    public static func unsupportedFallback(_ keys: [ApiKey] = ApiKey.allCases) -> ApiVersionsResponse {
        var r = advertised(keys)
        r.errorCode = ErrorCode.unsupportedVersion.rawValue
        return r
    }

    public func encode(_ w: inout KafkaWriter, version: Int16) {
        w.int16(errorCode)
        w.array(apiKeys) { w, k in
            w.int16(k.apiKey)
            w.int16(k.minVersion)
            w.int16(k.maxVersion)
        }
        if version >= 1 { w.int32(throttleTimeMs) }
    }

    public static func decode(_ r: inout KafkaReader, version: Int16) throws(KafkaWireError) -> ApiVersionsResponse {
        let error = try r.int16("error_code")
        let keys = try r.array("api_keys", minElementBytes: 6) { r throws(KafkaWireError) in
            Range(apiKey: try r.int16("api_key"), minVersion: try r.int16("min_version"), maxVersion: try r.int16("max_version"))
        }
        let throttle = version >= 1 ? try r.int32("throttle_time_ms") : 0
        var out = ApiVersionsResponse(apiKeys: keys, throttleTimeMs: throttle)
        out.errorCode = error
        return out
    }
}

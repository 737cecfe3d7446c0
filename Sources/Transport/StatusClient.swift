import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A small blocking HTTP/1.0 request to a node's status listener (`rill cluster status`,
/// `rill topic create`, tests). Returns the status code and body.
public func httpRequest(_ method: String, host: String, port: Int, path: String, timeoutSeconds: Int = 3) throws -> (Int, String) {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
        throw StatusRequestError("cannot resolve \(host)")
    }
    defer { freeaddrinfo(result) }
    let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
    guard fd >= 0 else { throw StatusRequestError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
        throw StatusRequestError("cannot connect to \(host):\(port): \(String(cString: strerror(errno)))")
    }
    let request = "\(method) \(path) HTTP/1.0\r\nHost: \(host)\r\nContent-Length: 0\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        response.append(contentsOf: buffer[0..<n])
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw StatusRequestError("no HTTP response from \(host):\(port)") }
    let statusLine = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
    let code = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return (code, String(text[split.upperBound...]))
}

/// Why a status request failed.
public struct StatusRequestError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

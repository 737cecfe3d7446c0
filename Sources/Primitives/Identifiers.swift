// Strong id types shared by the Raft core, the simulator and (later) storage and the broker.
// Raft log indexes and Kafka offsets are deliberately different types: mixing them is a bug class
// (Redpanda #5355 stored Raft offsets where Kafka offsets belonged).

/// A Raft term. Terms only grow; 0 means "no term yet".
public struct Term: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var value: UInt64
    @inlinable public init(_ value: UInt64) { self.value = value }
    @inlinable public init(integerLiteral value: UInt64) { self.value = value }
    @inlinable public static func < (a: Term, b: Term) -> Bool { a.value < b.value }
    public static let zero = Term(0)
    @inlinable public var next: Term { Term(value + 1) }
    public var description: String { String(value) }
}

/// A position in a Raft log. Index 0 is the empty prefix; the first real entry has index 1.
public struct LogIndex: Hashable, Comparable, Strideable, Sendable, ExpressibleByIntegerLiteral,
    CustomStringConvertible
{
    public var value: UInt64
    @inlinable public init(_ value: UInt64) { self.value = value }
    @inlinable public init(integerLiteral value: UInt64) { self.value = value }
    @inlinable public static func < (a: LogIndex, b: LogIndex) -> Bool { a.value < b.value }
    @inlinable public func distance(to other: LogIndex) -> Int64 { Int64(bitPattern: other.value &- value) }
    @inlinable public func advanced(by n: Int64) -> LogIndex { LogIndex(UInt64(bitPattern: Int64(bitPattern: value) &+ n)) }
    @inlinable public static func + (a: LogIndex, n: Int) -> LogIndex {
        LogIndex(UInt64(Int64(bitPattern: a.value) + Int64(n)))
    }
    @inlinable public static func - (a: LogIndex, n: Int) -> LogIndex {
        precondition(UInt64(n) <= a.value || n < 0, "LogIndex \(a) - \(n) underflows")
        return LogIndex(UInt64(Int64(bitPattern: a.value) - Int64(n)))
    }
    public static let zero = LogIndex(0)
    @inlinable public var next: LogIndex { LogIndex(value + 1) }
    @inlinable public var previous: LogIndex {
        precondition(value > 0, "LogIndex 0 has no predecessor")
        return LogIndex(value - 1)
    }
    public var description: String { String(value) }
}

/// A cluster member. 0 is reserved for "none" (no leader known, no vote cast).
public struct NodeID: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var value: UInt32
    @inlinable public init(_ value: UInt32) { self.value = value }
    @inlinable public init(integerLiteral value: UInt32) { self.value = value }
    @inlinable public static func < (a: NodeID, b: NodeID) -> Bool { a.value < b.value }
    public static let none = NodeID(0)
    @inlinable public var isNone: Bool { value == 0 }
    public var description: String { String(value) }
}

/// One Raft group: the controller group is 0, each partition has its own.
public struct GroupID: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var value: UInt32
    @inlinable public init(_ value: UInt32) { self.value = value }
    @inlinable public init(integerLiteral value: UInt32) { self.value = value }
    @inlinable public static func < (a: GroupID, b: GroupID) -> Bool { a.value < b.value }
    public static let controller = GroupID(0)
    public var description: String { String(value) }
}

import Broker
import Raft

/// Deliberate bugs of the simulated Kafka clients, to prove the simulator's checkers catch them.
public enum ClientPlantedBug: String, Sendable, CaseIterable {
    /// A group member stops heartbeating once told a rebalance is in progress, until its
    /// application polls again (the Swift consumer's bug behind a CI failure): a member whose
    /// poll comes later than its session timeout is expelled while it still reads its partitions.
    case memberSilentInRebalance = "member-silent-in-rebalance"
}

/// Any bug a simulated run can plant, by where it lives: Raft (`PlantedBug`, in every group's
/// `RaftConfig`), the broker (`BrokerPlantedBug`, in `NodeConfig`) or the simulated clients.
/// rill-sim's `--plant-bug` takes the name of any of them.
public enum SimPlantedBug: Hashable, Sendable, CaseIterable, RawRepresentable {
    case raft(PlantedBug)
    case broker(BrokerPlantedBug)
    case client(ClientPlantedBug)

    public static var allCases: [SimPlantedBug] {
        PlantedBug.allCases.map(Self.raft) + BrokerPlantedBug.allCases.map(Self.broker) + ClientPlantedBug.allCases.map(Self.client)
    }

    /// The bug's name (`--plant-bug`); names are unique across the three kinds.
    public var rawValue: String {
        switch self {
        case .raft(let b): return b.rawValue
        case .broker(let b): return b.rawValue
        case .client(let b): return b.rawValue
        }
    }

    public init?(rawValue: String) {
        guard let bug = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = bug
    }

    /// The Raft bug, if this is one.
    public var raft: PlantedBug? {
        if case .raft(let b) = self { return b }
        return nil
    }

    /// The broker bug, if this is one.
    public var broker: BrokerPlantedBug? {
        if case .broker(let b) = self { return b }
        return nil
    }

    /// The client bug, if this is one.
    public var client: ClientPlantedBug? {
        if case .client(let b) = self { return b }
        return nil
    }
}

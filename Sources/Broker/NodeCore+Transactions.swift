import Primitives

/// Transaction messages between coordinators and partition leaders
/// (`TransactionPartitionMessage`): a request goes to the partition service, an answer to the
/// coordinator; one for this node itself never leaves it.
extension NodeCore {
    /// A peer's transaction message (the link checked that a request's coordinator is the peer).
    public func receiveTransaction(_ m: TransactionPartitionMessage, from peer: NodeID) -> NodeOutput {
        handleTransaction(m, from: peer)
        return flush()
    }

    func handleTransaction(_ m: TransactionPartitionMessage, from peer: NodeID) {
        switch m {
        case .write(let request, let coordinator, let group, let producerID, let mark, let action):
            // A node speaks only for itself (`PeerPacket.senderProblem`).
            guard coordinator == peer else { return }
            if let answer = partitionTransactions.write(
                request: request, from: coordinator, group: group, producerID: producerID, mark: mark, action: action, self)
            {
                routeTransaction(answer, to: coordinator)
            }
        case .written(let request, let group, let error):
            perform(transactions.partitionWritten(request: request, group: group, error, self))
        }
    }

    func routeTransaction(_ m: TransactionPartitionMessage, to peer: NodeID) {
        if peer == config.id {
            handleTransaction(m, from: peer)
        } else {
            outgoingTransactionMessages.append((peer, m))
        }
    }
}

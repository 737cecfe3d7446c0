import KafkaProtocol

extension Admin {
    /// Remove a node from the cluster (Kafka's UnregisterBroker). Refused while the node holds a
    /// replica (INVALID_REQUEST, naming the partition: drain it first) and for a node that is not
    /// a member (BROKER_ID_NOT_REGISTERED). Returns once the controller applied the removal; the
    /// node's id is never a member again.
    public func removeNode(_ node: Int32) async throws {
        try await controllerCall(.unregisterBroker, version: 0, context: "remove node \(node)") {
            UnregisterBrokerRequest(brokerID: node).encode(&$0, version: 0)
        } decode: { r throws(KafkaWireError) in
            let response = try UnregisterBrokerResponse.decode(&r, version: 0)
            return (response.errorCode, response.errorMessage)
        }
    }
}

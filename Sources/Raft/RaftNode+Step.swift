import Primitives

extension RaftNode {
    /// Feed one message from a peer. It is validated first (`validate`): what no correct peer
    /// sends is dropped and reported (`takeRejections`), never trapped on. Then terms are
    /// reconciled (Raft §5.1), then the role decides.
    public mutating func step(_ m: Message) {
        if let reason = validate(m) {
            reject(m, reason)
            return
        }
        if isQuiesced && !keepsQuiesced(m) { wake() }
        if m.term > term {
            if m.kind == .vote || m.kind == .preVote {
                // Leader lease (with CheckQuorum): while we hear from a leader, ignore campaigns, so a
                // node that was cut off cannot depose a healthy leader when it comes back.
                let inLease = config.checkQuorum && !leader.isNone && electionElapsed < config.electionTicks
                if inLease && !m.forceVote { return }
            }
            switch m.kind {
            case .preVote:
                break  // a pre-vote never changes our term
            case .preVoteResponse where !m.reject:
                break  // the granted term is the future term we asked about
            case .append, .heartbeat, .snapshot:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: .none)
            }
        } else if m.term < term {
            if (config.checkQuorum || config.preVote) && (m.kind == .append || m.kind == .heartbeat) {
                // A stale leader: tell it our term so it steps down. Without this, a leader
                // cut off under PreVote/CheckQuorum could never learn it was replaced.
                sendNow(Message(kind: .appendResponse, from: id, to: m.from, term: term))
            } else if m.kind == .preVote {
                sendNow(Message(kind: .preVoteResponse, from: id, to: m.from, term: term, reject: true))
            }
            return
        }

        switch m.kind {
        case .preVote, .vote:
            handleVoteRequest(m)
            return
        default:
            break
        }

        switch role {
        case .leader: stepLeader(m)
        case .candidate, .preCandidate: stepCandidate(m)
        case .follower: stepFollower(m)
        }
    }

    mutating func stepLeader(_ m: Message) {
        switch m.kind {
        case .appendResponse: handleAppendResponse(m)
        case .heartbeatResponse: handleHeartbeatResponse(m)
        default: break  // votes handled in step; a second leader in our term cannot exist
        }
    }

    mutating func stepCandidate(_ m: Message) {
        switch m.kind {
        case .append:
            becomeFollower(term: m.term, leader: m.from)
            handleAppend(m)
        case .heartbeat:
            becomeFollower(term: m.term, leader: m.from)
            handleHeartbeat(m)
        case .snapshot:
            becomeFollower(term: m.term, leader: m.from)
            handleSnapshot(m)
        case .preVoteResponse, .voteResponse:
            handleVoteResponse(m)
        default:
            break
        }
    }

    mutating func stepFollower(_ m: Message) {
        switch m.kind {
        case .append:
            electionElapsed = 0
            leader = m.from
            handleAppend(m)
        case .heartbeat:
            electionElapsed = 0
            leader = m.from
            handleHeartbeat(m)
        case .snapshot:
            electionElapsed = 0
            leader = m.from
            handleSnapshot(m)
        case .timeoutNow:
            // Leadership transfer: campaign at once, skipping PreVote and the lease.
            hup(.transfer)
        default:
            break
        }
    }
}

import Raft
import Testing

/// Golden interaction transcripts under testdata/, one test case per file.
/// Rewrite with `GOLDEN_REWRITE=1 swift test --filter InteractionTests` and review the diff.
struct InteractionTests {
    static let directory: String = {
        let here = "\(#filePath)"
        return String(here[..<here.lastIndex(of: "/")!]) + "/testdata"
    }()

    static let files = [
        "election.txt", "prevote_partition.txt", "checkquorum.txt", "figure8.txt", "conflict_resolution.txt",
        "leader_transfer.txt", "snapshot_lagging_follower.txt", "storage_catch_up.txt", "storage_catch_up_damage.txt", "membership_change.txt", "vote_durability.txt",
        "removed_voter_campaigns.txt", "quiescence.txt",
    ]

    @Test("the transcripts catch planted bugs", arguments: [
        ("figure8.txt", PlantedBug.commitPreviousTerm), ("vote_durability.txt", .voteBeforeDurable),
    ])
    func transcriptsHaveTeeth(_ file: String, _ bug: PlantedBug) {
        var env = InteractionEnv()
        env.plantedBug = bug
        #expect(!DataDriven.matches(path: "\(Self.directory)/\(file)") { env.handle($0) }, "\(file) misses \(bug)")
    }

    @Test("golden interaction transcript", arguments: files)
    func transcript(_ file: String) {
        var env = InteractionEnv()
        DataDriven.run(path: "\(Self.directory)/\(file)") { env.handle($0) }
    }
}

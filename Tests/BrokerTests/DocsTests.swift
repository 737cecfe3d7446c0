import Foundation
import Testing

/// docs/architecture.md is the map of the code: its module table must name exactly the targets
/// Package.swift declares, and no doc may name a path of one machine.
struct DocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// Names of `.target`, `.executableTarget`, `.testTarget` and `.systemLibrary` declarations.
    static func packageTargets() throws -> Set<String> {
        let text = try read("Package.swift")
        var names: Set<String> = []
        for kind in [".target(", ".executableTarget(", ".testTarget(", ".systemLibrary("] {
            var rest = text[...]
            while let open = rest.range(of: kind) {
                rest = rest[open.upperBound...]
                guard let name = rest.range(of: "name: \"") else { break }
                let after = rest[name.upperBound...]
                guard let close = after.firstIndex(of: "\"") else { break }
                names.insert(String(after[..<close]))
            }
        }
        return names
    }

    @Test("architecture.md's module table names exactly the targets of Package.swift")
    func moduleTable() throws {
        let targets = try Self.packageTargets()
        #expect(targets.count >= 20, "parsed \(targets.sorted())")
        let doc = try Self.read("docs/architecture.md")
        // The table's rows: "| `Name` | `folder` | ...", from the header "| target | folder |".
        let table = try #require(doc.components(separatedBy: "| target | folder |").dropFirst().first)
        var rows: Set<String> = []
        for line in table.split(separator: "\n").dropFirst(2) {
            guard line.hasPrefix("| `") else { break }
            let cell = line.dropFirst(3)
            rows.insert(String(cell[..<cell.firstIndex(of: "`")!]))
        }
        #expect(targets.subtracting(rows).isEmpty, "targets missing from docs/architecture.md: \(targets.subtracting(rows).sorted())")
        #expect(rows.subtracting(targets).isEmpty, "rows naming no target: \(rows.subtracting(targets).sorted())")
    }

    @Test("no doc names a path of one machine")
    func noMachinePaths() throws {
        let docs = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("docs").path).filter { $0.hasSuffix(".md") }
        for name in docs.sorted() + [] {
            let text = try Self.read("docs/\(name)")
            // Home and work directories of a machine (spelled in parts, so this file names none).
            for marker in ["work", "root", "home"].map({ "/" + $0 + "/" }) {
                #expect(!text.contains(marker), "docs/\(name) names \(marker)")
            }
        }
        let readme = try Self.read("README.md")
        #expect(!readme.contains("/" + "work" + "/"))
    }
}

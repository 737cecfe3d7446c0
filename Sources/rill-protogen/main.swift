// rill-protogen: generates Sources/KafkaProtocol/Generated from Sources/KafkaProtocol/Schema.
//
//   swift run rill-protogen            write the generated files (and remove stale ones)
//   swift run rill-protogen --check    exit 1 if any generated file differs from the schema's
//
// No network, no dependencies: the schema files are the only input.
import Foundation

let arguments = CommandLine.arguments.dropFirst()
let check = arguments.contains("--check")
let root = arguments.first(where: { !$0.hasPrefix("--") }) ?? FileManager.default.currentDirectoryPath
let schemaDir = root + "/Sources/KafkaProtocol/Schema"
let outputDir = root + "/Sources/KafkaProtocol/Generated"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("rill-protogen: \(message)\n".utf8))
    exit(2)
}

let fm = FileManager.default
guard let names = try? fm.contentsOfDirectory(atPath: schemaDir) else { fail("no schema directory at \(schemaDir)") }
var apis: [ApiSchema] = []
for name in names.sorted() where name.hasSuffix(".kafka") {
    let path = "Sources/KafkaProtocol/Schema/\(name)"
    guard let text = try? String(contentsOfFile: schemaDir + "/" + name, encoding: .utf8) else { fail("cannot read \(path)") }
    do {
        let api = try SchemaParser(file: path).parse(text)
        guard name == api.name + ".kafka" else { fail("\(path) describes \(api.name); name the file \(api.name).kafka") }
        guard api.request.versions == api.response.versions, api.request.flexibleFrom == api.response.flexibleFrom else {
            fail("\(path): request and response must have the same versions and flexible versions")
        }
        apis.append(api)
    } catch {
        fail("\(error)")
    }
}
if let dup = Dictionary(grouping: apis, by: \.key).first(where: { $0.value.count > 1 }) { fail("API key \(dup.key) described twice") }

var files: [String: String] = [:]
do {
    for api in apis { files[api.name + ".swift"] = try SwiftEmitter(api: api).emit() }
} catch {
    fail("\(error)")
}
files["ApiKey.swift"] = RegistryEmitter(apis: apis).emit()

let existing = Set(((try? fm.contentsOfDirectory(atPath: outputDir)) ?? []).filter { $0.hasSuffix(".swift") })
var differ: [String] = []
for (name, text) in files.sorted(by: { $0.key < $1.key }) {
    let path = outputDir + "/" + name
    if (try? String(contentsOfFile: path, encoding: .utf8)) == text { continue }
    differ.append(name)
    if !check {
        try? fm.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch { fail("cannot write \(path): \(error)") }
    }
}
for stale in existing.subtracting(files.keys).sorted() {
    differ.append(stale + " (stale)")
    if !check { try? fm.removeItem(atPath: outputDir + "/" + stale) }
}
if check {
    if differ.isEmpty {
        print("rill-protogen: \(files.count) generated files match the schema")
        exit(0)
    }
    print("rill-protogen: generated code differs from the schema (run `swift run rill-protogen`): \(differ.joined(separator: ", "))")
    exit(1)
}
print("rill-protogen: \(apis.count) APIs, \(files.count) files, \(differ.count) written")

import CLIP
import Foundation
import Imaging
import Jobs
import Support
import Synchronization
import Tensor
import XCTest
@testable import Experiments

/// umap-learn's and sklearn's numbers on synthetic clusters (tools/reference/make_umap_fixture.py).
struct UMAPFixture: Decodable {
    let points: Int
    let dimension: Int
    let data: [Float]
    let labels: [Int]
    let umapEmbedding: [Float]
    let umapTrustworthiness: [String: Double]
    let firstTwoTrustworthiness: [String: Double]
    let umapSeconds2000x512: Double

    enum CodingKeys: String, CodingKey {
        case points, dimension, data, labels
        case umapEmbedding = "umap_embedding", umapTrustworthiness = "umap_trustworthiness"
        case firstTwoTrustworthiness = "first_two_trustworthiness", umapSeconds2000x512 = "umap_seconds_2000x512"
    }

    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/umap-fixture.json").path
    nonisolated(unsafe) static var cached: UMAPFixture?

    static func load() throws -> UMAPFixture {
        if let cached { return cached }
        let fixture = try JSONDecoder().decode(UMAPFixture.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        cached = fixture
        return fixture
    }

    /// The data's first two coordinates, the fixed view the fixture scores.
    var firstTwo: [Float] { (0..<points).flatMap { [data[$0 * dimension], data[$0 * dimension + 1]] } }
}

final class UMAPTests: XCTestCase {
    /// Our layout of the fixture, made once (500 epochs of 300 points).
    nonisolated(unsafe) static var fixtureLayout: [Float]?

    func layout(_ fixture: UMAPFixture) -> [Float] {
        if let layout = Self.fixtureLayout { return layout }
        let layout = UMAP(seed: 7).embed(fixture.data, dimension: fixture.dimension)
        Self.fixtureLayout = layout
        return layout
    }

    func testTrustworthinessEqualsSklearnOnTheFixture() throws {
        let fixture = try UMAPFixture.load()
        for k in [5, 15] {
            XCTAssertEqual(trustworthiness(high: fixture.data, lowDimensional: fixture.firstTwo, dimension: fixture.dimension, neighbours: k),
                           fixture.firstTwoTrustworthiness["\(k)"]!, accuracy: 1e-12, "first two coordinates, k = \(k)")
            XCTAssertEqual(trustworthiness(high: fixture.data, lowDimensional: fixture.umapEmbedding, dimension: fixture.dimension, neighbours: k),
                           fixture.umapTrustworthiness["\(k)"]!, accuracy: 1e-12, "umap-learn's layout, k = \(k)")
        }
    }

    func testTrustworthinessEqualsABruteForceRecomputation() {
        var generator = SeededGenerator(seed: 11)
        let (n, d, k) = (40, 6, 4)
        let high = (0..<(n * d)).map { _ in generator.nextNormal() }
        let low = (0..<(n * 2)).map { _ in generator.nextNormal() }
        // Straight from the definition: full rankings by sorting.
        func distance(_ v: [Float], _ width: Int, _ i: Int, _ j: Int) -> Double {
            (0..<width).reduce(0.0) { $0 + pow(Double(v[i * width + $1]) - Double(v[j * width + $1]), 2) }
        }
        var penalty = 0.0
        for i in 0..<n {
            let highOrder = (0..<n).filter { $0 != i }.sorted { distance(high, d, i, $0) < distance(high, d, i, $1) }
            let lowOrder = (0..<n).filter { $0 != i }.sorted { distance(low, 2, i, $0) < distance(low, 2, i, $1) }
            for j in lowOrder.prefix(k) { penalty += Double(max(0, highOrder.firstIndex(of: j)! + 1 - k)) }
        }
        let expected = 1 - penalty * 2 / Double(n * k * (2 * n - 3 * k - 1))
        XCTAssertEqual(trustworthiness(high: high, lowDimensional: low, dimension: d, neighbours: k), expected, accuracy: 1e-12)
        XCTAssertLessThan(expected, 0.8, "a random layout should be far from trustworthy")
        // Keeping the data as it is keeps every neighbourhood.
        XCTAssertEqual(trustworthiness(high: high, lowDimensional: high, dimension: d, neighbours: k), 1, accuracy: 1e-12)
    }

    func testTheCurveFitGivesUmapLearnsParameters() {
        // umap-learn's find_ab_params(1.0, 0.1) and (1.0, 0.5).
        let near = UMAP.curveParameters(spread: 1, minimumDistance: 0.1)
        XCTAssertEqual(near.a, 1.5769, accuracy: 2e-3)
        XCTAssertEqual(near.b, 0.8951, accuracy: 2e-3)
        let far = UMAP.curveParameters(spread: 1, minimumDistance: 0.5)
        XCTAssertEqual(far.a, 0.5830, accuracy: 2e-3)
        XCTAssertEqual(far.b, 1.3342, accuracy: 2e-3)
    }

    func testTheLayoutIsAsTrustworthyAsUmapLearns() throws {
        let fixture = try UMAPFixture.load()
        let ours = layout(fixture)
        XCTAssertEqual(ours.count, fixture.points * 2)
        for k in [5, 15] {
            let score = trustworthiness(high: fixture.data, lowDimensional: ours, dimension: fixture.dimension, neighbours: k)
            XCTAssertGreaterThanOrEqual(score, fixture.umapTrustworthiness["\(k)"]! - 0.03, "k = \(k)")
        }
    }

    func testClustersStayApart() throws {
        let fixture = try UMAPFixture.load()
        let ours = layout(fixture)
        // Each point's five nearest in the layout: how many are of its own cluster.
        func distance(_ i: Int, _ j: Int) -> Float { hypot(ours[2 * i] - ours[2 * j], ours[2 * i + 1] - ours[2 * j + 1]) }
        var same = 0
        for i in 0..<fixture.points {
            let nearest = (0..<fixture.points).filter { $0 != i }.sorted { distance(i, $0) < distance(i, $1) }.prefix(5)
            same += nearest.filter { fixture.labels[$0] == fixture.labels[i] }.count
        }
        XCTAssertGreaterThan(Double(same) / Double(5 * fixture.points), 0.98)
        // And the clusters' centres are further apart than their points spread.
        func centre(_ label: Int) -> (Float, Float) {
            let members = (0..<fixture.points).filter { fixture.labels[$0] == label }
            return (members.map { ours[2 * $0] }.reduce(0, +) / Float(members.count),
                    members.map { ours[2 * $0 + 1] }.reduce(0, +) / Float(members.count))
        }
        let centres = (0..<6).map(centre)
        var spread: Float = 0
        for i in 0..<fixture.points {
            let c = centres[fixture.labels[i]]
            spread = max(spread, hypot(ours[2 * i] - c.0, ours[2 * i + 1] - c.1))
        }
        var closest = Float.infinity
        for a in 0..<6 { for b in (a + 1)..<6 { closest = min(closest, hypot(centres[a].0 - centres[b].0, centres[a].1 - centres[b].1)) } }
        XCTAssertGreaterThan(closest, spread, "the nearest two cluster centres should be further apart than any point from its centre")
    }

    func testTheSameSeedGivesTheSameLayoutAndAnotherSeedAnother() throws {
        let fixture = try UMAPFixture.load()
        let points = Array(fixture.data.prefix(120 * fixture.dimension))
        let first = UMAP(epochs: 80, seed: 3).embed(points, dimension: fixture.dimension)
        let again = UMAP(epochs: 80, seed: 3).embed(points, dimension: fixture.dimension)
        let other = UMAP(epochs: 80, seed: 4).embed(points, dimension: fixture.dimension)
        XCTAssertEqual(first.map(\.bitPattern), again.map(\.bitPattern))
        XCTAssertNotEqual(first, other)
    }

    func testEpochsAreReportedAndAThrowStopsTheLayout() {
        struct Stop: Error {}
        var generator = SeededGenerator(seed: 5)
        let points = (0..<(30 * 4)).map { _ in generator.nextNormal() }
        var seen: [Int] = []
        XCTAssertThrowsError(try UMAP(epochs: 50).embed(points, dimension: 4) { done, total in
            XCTAssertEqual(total, 50)
            seen.append(done)
            if done == 7 { throw Stop() }
        })
        XCTAssertEqual(seen, Array(1...7))
        XCTAssertEqual(UMAP().epochCount(points: 10_000), 500)
        XCTAssertEqual(UMAP().epochCount(points: 10_001), 200)
    }
}

final class PCATests: XCTestCase {
    /// Points along `axis` (spread 10) plus small noise in every direction.
    func alongAxis(_ axis: [Float], count: Int, seed: UInt64) -> (points: [Float], along: [Float]) {
        var generator = SeededGenerator(seed: seed)
        let norm = axis.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let unit = axis.map { $0 / norm }
        var points: [Float] = [], along: [Float] = []
        for _ in 0..<count {
            let t = 10 * generator.nextNormal()
            along.append(t)
            points += unit.enumerated().map { 3 + t * $0.element + 0.05 * generator.nextNormal() + Float($0.offset) }
        }
        return (points, along)
    }

    func checkDominantAxis(dimension: Int, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let axis = (0..<dimension).map { _ in generator.nextNormal() }
        let (points, along) = alongAxis(axis, count: 200, seed: seed + 1)
        let projected = PCA.project(points, dimension: dimension, components: 2)
        XCTAssertEqual(projected.count, 400)
        // The first coordinate is the position along the axis, up to its sign and centring.
        let first = (0..<200).map { Double(projected[2 * $0]) }
        let centred = along.map { Double($0) - along.map(Double.init).reduce(0, +) / 200 }
        let correlation = zip(first, centred).reduce(0) { $0 + $1.0 * $1.1 }
            / (first.reduce(0) { $0 + $1 * $1 }.squareRoot() * centred.reduce(0) { $0 + $1 * $1 }.squareRoot())
        XCTAssertGreaterThan(abs(correlation), 0.9999, "dimension \(dimension)")
        // Sign convention: the axis's largest-magnitude loading is positive.
        let largest = axis.indices.max { abs(axis[$0]) < abs(axis[$1]) }!
        XCTAssertEqual(correlation > 0, axis[largest] > 0, "dimension \(dimension)")
        // The second axis holds only the noise.
        let second = (0..<200).map { Double(projected[2 * $0 + 1]) }
        XCTAssertLessThan(second.map(abs).max()!, 0.5)
    }

    func testTheFirstComponentFollowsTheDominantAxis() {
        checkDominantAxis(dimension: 8, seed: 1)
    }

    func testTheFirstComponentFollowsTheDominantAxisInManyDimensions() {
        // Above 64 dimensions the axes come from subspace iteration, not a full eigendecomposition.
        checkDominantAxis(dimension: 96, seed: 2)
    }

    func testSubspaceIterationAgreesWithTheFullEigendecomposition() {
        var generator = SeededGenerator(seed: 9)
        let (n, d) = (120, 70)
        // Decreasing variances, so the leading directions are well separated.
        let points = (0..<(n * d)).map { Float(10 - Double($0 % d) / 8) * generator.nextNormal() }
        let x = Tensor(shape: [n, d], values: points)
        let covariance = x.matmul(x, transposeSelf: true).values.map(Double.init)
        let full = PCA.symmetricEigen(covariance, size: d).vectors
        let iterated = PCA.subspaceIteration(covariance, size: d, wanted: 2)
        for a in 0..<2 {
            let dot = zip(full[a], iterated[a]).reduce(0) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(abs(dot), 1, accuracy: 1e-6, "component \(a)")
        }
    }
}

final class ModalityGapTests: XCTestCase {
    func testTheGapAndTheCosinesEqualADirectComputation() {
        var generator = SeededGenerator(seed: 21)
        let (n, d) = (9, 5)
        func units(shift: Float) -> [[Float]] {
            (0..<n).map { _ in
                let v = (0..<d).map { generator.nextNormal() + ($0 == 0 ? shift : 0) }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return v.map { $0 / norm }
            }
        }
        let images = units(shift: 2), texts = units(shift: -2)
        let gap = ModalityGap(images: images.flatMap { $0 }, texts: texts.flatMap { $0 }, dimension: d)
        // Cosines in full: the Float rows are unit only to Float precision.
        func dot(_ a: [Float], _ b: [Float]) -> Double {
            let raw = { (u: [Float], v: [Float]) in zip(u, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
            return raw(a, b) / (raw(a, a) * raw(b, b)).squareRoot()
        }
        let matched = (0..<n).reduce(0.0) { $0 + dot(images[$1], texts[$1]) } / Double(n)
        var unmatched = 0.0
        for i in 0..<n { for j in 0..<n where i != j { unmatched += dot(images[i], texts[j]) } }
        unmatched /= Double(n * (n - 1))
        let centroid = { (v: [[Float]]) in (0..<d).map { k in v.reduce(0.0) { $0 + Double($1[k]) } / Double(n) } }
        let distance = zip(centroid(images), centroid(texts)).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        XCTAssertEqual(gap.pairs, n)
        XCTAssertEqual(gap.matchedCosine, matched, accuracy: 1e-9)
        XCTAssertEqual(gap.unmatchedCosine, unmatched, accuracy: 1e-9)
        XCTAssertEqual(gap.centroidDistance, distance, accuracy: 1e-9)
        XCTAssertGreaterThan(gap.centroidDistance, 1, "shifted apart along the first axis")
    }
}

final class GapJobTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("clipscope-gap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    func folder(_ name: String) throws -> String {
        let path = scratch.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func testAJobOnAFolderWritesTheFiguresAndSkipsAnUnreadableImage() throws {
        let images = try folder("images")
        for (i, name) in ["red_fox.png", "blue-whale.png", "tabby cat.png", "golden_retriever.png", "oak tree.png"].enumerated() {
            try Image.testCard(width: 64, height: 48, seed: UInt64(i + 1)).writePNG(path: (images as NSString).appendingPathComponent(name))
        }
        let broken = (images as NSString).appendingPathComponent("broken.png")
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: broken))
        try Data("notes".utf8).write(to: URL(fileURLWithPath: (images as NSString).appendingPathComponent("notes.txt")))
        let run = scratch.appendingPathComponent("run").path
        let job = GapJob(model: Fixture.modelPath, directory: images, output: run)
        let logged = Mutex<[String]>([])
        let result = try JobRunner.run(job) { _, event in
            if case let .log(.warning, message) = event { logged.withLock { $0.append(message) } }
        }.get()
        let warnings = logged.withLock { $0 }

        XCTAssertEqual(result.pairs, 5)
        XCTAssertEqual(result.skipped.map(\.path), [broken])
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.contains("broken.png") ?? false)
        XCTAssertEqual(result.points.count, 10)
        XCTAssertEqual(result.points.map(\.kind), Array(repeating: "image", count: 5) + Array(repeating: "text", count: 5))
        XCTAssertEqual(result.pcaPoints.count, 10)
        XCTAssertTrue(result.points.allSatisfy { $0.x.isFinite && $0.y.isFinite })
        XCTAssertGreaterThan(result.centroidDistance, 0)
        XCTAssertTrue((-1...1).contains(result.matchedCosine) && (-1...1).contains(result.unmatchedCosine))

        // gap.json has the documented shape and the same numbers.
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/gap.json"))) as! [String: Any]
        XCTAssertEqual(saved["centroid_distance"] as? Double ?? .nan, result.centroidDistance, accuracy: 1e-12)
        XCTAssertNotNil(saved["matched_cosine"] as? Double)
        XCTAssertNotNil(saved["unmatched_cosine"] as? Double)
        let points = saved["points"] as! [[String: Any]]
        XCTAssertEqual(points.count, 10)
        XCTAssertEqual(points[0]["kind"] as? String, "image")
        XCTAssertNotNil(points[0]["x"] as? Double)
        for name in ["gap.png", "gap-pca.png"] {
            let figure = try Image.load(path: run + "/" + name)
            XCTAssertEqual([figure.width, figure.height], [760, 560], name)
        }
        XCTAssertEqual(result.figure, run + "/gap.png")
        let csv = try String(contentsOfFile: run + "/points.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 11)
        XCTAssertTrue(csv.contains { $0.hasSuffix(",text,\(result.points[5].x),\(result.points[5].y),\(result.pcaPoints[5].x),\(result.pcaPoints[5].y),This is a blue whale") },
                      "the text of the first pair by name (blue-whale.png) is on its line")
        XCTAssertNoThrow(try RunFolder(path: run).read())
    }

    func testAJobOnACSVReadsCaptionsAndRelativePaths() throws {
        let images = try folder("csv")
        for i in 0..<3 {
            try Image.testCard(width: 40, height: 40, seed: UInt64(10 + i)).writePNG(path: (images as NSString).appendingPathComponent("p\(i).png"))
        }
        let csv = (images as NSString).appendingPathComponent("pairs.csv")
        try "path,caption\np0.png,a photo\n\n\"p1.png\",\"a photo, with a comma\"\np2.png,an \"odd\" one\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let pairs = try GapJob.csvPairs(csv)
        XCTAssertEqual(pairs, [
            GapJob.Pair(image: images + "/p0.png", caption: "a photo"),
            GapJob.Pair(image: images + "/p1.png", caption: "a photo, with a comma"),
            GapJob.Pair(image: images + "/p2.png", caption: "an \"odd\" one"),
        ])
        let result = try JobRunner.run(GapJob(model: Fixture.modelPath, csv: csv, output: scratch.appendingPathComponent("run").path)) { _, _ in }.get()
        XCTAssertEqual(result.pairs, 3)
        XCTAssertTrue(result.skipped.isEmpty)
    }

    /// A spreadsheet's CSV: a byte order mark, CRLF line ends and a caption spanning two lines.
    func testAGapCSVWithAByteOrderMarkAndAQuotedNewlineRuns() throws {
        let images = try folder("bom")
        for i in 0..<3 {
            try Image.testCard(width: 40, height: 40, seed: UInt64(20 + i)).writePNG(path: (images as NSString).appendingPathComponent("p\(i).png"))
        }
        let csv = (images as NSString).appendingPathComponent("pairs.csv")
        try "\u{FEFF}p0.png,a photo\r\np1.png,\"two\nlines, and a comma\"\r\np2.png,\"a \"\"quoted\"\" word\"\r\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let pairs = try GapJob.csvPairs(csv)
        XCTAssertEqual(pairs, [
            GapJob.Pair(image: images + "/p0.png", caption: "a photo"),
            GapJob.Pair(image: images + "/p1.png", caption: "two\nlines, and a comma"),
            GapJob.Pair(image: images + "/p2.png", caption: "a \"quoted\" word"),
        ])
        let run = scratch.appendingPathComponent("bom-run").path
        let result = try JobRunner.run(GapJob(model: Fixture.modelPath, csv: csv, output: run)) { _, _ in }.get()
        XCTAssertEqual(result.pairs, 3)
        XCTAssertTrue(result.skipped.isEmpty, "\(result.skipped)")
        let points = try CSV.records(String(contentsOfFile: run + "/points.csv", encoding: .utf8))
        XCTAssertEqual(points.count, 7)
        XCTAssertTrue(points.contains { $0.fields[1] == "text" && $0.fields[6] == "two\nlines, and a comma" },
                      "points.csv keeps the caption whole")

        try "p0.png,\"never closed\np1.png,x\n".write(toFile: csv, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try GapJob.csvPairs(csv)) { error in
            XCTAssertTrue("\(error)".contains("\(csv) line 1: a quoted field is never closed"), "\(error)")
        }
    }

    func testCaptionsComeFromFileNames() {
        XCTAssertEqual(GapJob.caption(forFile: "/x/golden_retriever-puppy.jpg"), "This is a golden retriever puppy")
        XCTAssertEqual(GapJob.caption(forFile: "cat.png"), "This is a cat")
    }

    func testBadInputFailsBeforeAnyWorkNamingTheOption() throws {
        func failure(_ job: GapJob) -> InvalidParameter? {
            do { _ = try job.resolvedPairs(); return nil } catch { return error as? InvalidParameter }
        }
        let empty = try folder("empty")
        try Data("x".utf8).write(to: URL(fileURLWithPath: empty + "/readme.txt"))
        let noImages = failure(GapJob(model: "toy", directory: empty, output: scratch.path))
        XCTAssertEqual(noImages?.parameter, "directory")
        XCTAssertEqual(noImages?.detail, "\(empty): no images (.jpg, .jpeg, .png)")
        XCTAssertEqual(failure(GapJob(model: "toy", directory: empty + "/missing", output: scratch.path))?.detail,
                       "\(empty)/missing: no such folder")

        let csv = scratch.appendingPathComponent("bad.csv").path
        try "path,caption\na.png,an apple\nb.png,\nc.png,a cat\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let missingCaption = failure(GapJob(model: "toy", csv: csv, output: scratch.path))
        XCTAssertEqual(missingCaption?.parameter, "csv")
        XCTAssertEqual(missingCaption?.detail, "\(csv) line 3: no caption (want path,caption)")

        try "a.png,an apple\nb.png,a bee\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let tooFew = failure(GapJob(model: "toy", csv: csv, output: scratch.path))
        XCTAssertEqual(tooFew?.parameter, "csv")
        XCTAssertEqual(tooFew?.detail, "\(csv): 2 pair(s); the gap needs at least 3")

        XCTAssertEqual(failure(GapJob(model: "toy", directory: empty, csv: csv, output: scratch.path))?.parameter, "directory")

        // Through the runner too: the job fails before loading the model (which does not exist).
        let outcome = JobRunner.run(GapJob(model: scratch.path + "/no-model.pt", directory: empty, output: scratch.path + "/run")) { _, _ in }
        guard case let .failed(failed) = outcome else { return XCTFail("expected a failure, got \(outcome)") }
        XCTAssertEqual(failed.invalidParameter?.parameter, "directory")
    }

    func testAJobWithTooFewReadableImagesFails() throws {
        let images = try folder("mostly-broken")
        try Image.testCard(width: 40, height: 40).writePNG(path: images + "/good.png")
        for name in ["a.png", "b.jpg", "c.png"] { try Data("junk".utf8).write(to: URL(fileURLWithPath: images + "/" + name)) }
        let outcome = JobRunner.run(GapJob(model: Fixture.modelPath, directory: images, output: scratch.path + "/run")) { _, _ in }
        guard case let .failed(failed) = outcome else { return XCTFail("expected a failure, got \(outcome)") }
        XCTAssertEqual(failed.message, "only 1 of 4 images could be read; the gap needs at least 3 pairs")
    }
}

import Foundation
import Tensor

/// UMAP (McInnes, Healy & Melville 2018): a 2-D layout that keeps each point's nearest
/// neighbours near. Follows umap-learn's defaults (Euclidean, exact k-nearest neighbours,
/// fuzzy union, epochs-per-sample SGD with 5 negative samples, learning rate 1 decaying
/// linearly, gradients clipped to 4) with a PCA start instead of a spectral one. The same
/// seed gives bitwise the same layout: one seeded generator, and edges updated in order.
public struct UMAP: Sendable {
    /// k, counting the point itself (umap-learn's n_neighbors).
    public var neighbours: Int
    public var minimumDistance: Double
    /// The scale at which embedded points spread (min_dist is measured against it).
    public var spread = 1.0
    /// Nil: 500, or 200 for more than 10,000 points (umap-learn's choice).
    public var epochs: Int?
    public var seed: UInt64
    public var negativeSamples = 5
    public var learningRate = 1.0
    /// Weight of the repelling (negative sample) term.
    public var repulsion = 1.0

    public init(neighbours: Int = 15, minimumDistance: Double = 0.1, epochs: Int? = nil, seed: UInt64 = 42) {
        self.neighbours = neighbours
        self.minimumDistance = minimumDistance
        self.epochs = epochs
        self.seed = seed
    }

    /// Epochs used for `count` points.
    public func epochCount(points count: Int) -> Int { epochs ?? (count > 10_000 ? 200 : 500) }

    /// The n x 2 layout (row-major) of `points`, n x `dimension` row-major.
    public func embed(_ points: [Float], dimension: Int) -> [Float] {
        embed(points, dimension: dimension) { _, _ in }
    }

    /// The layout, calling `onEpoch(done, total)` after each epoch (throw there to stop).
    public func embed(_ points: [Float], dimension: Int, onEpoch: (_ done: Int, _ total: Int) throws -> Void) rethrows -> [Float] {
        precondition(dimension > 0 && points.count % dimension == 0,
                     "UMAP: \(points.count) values are not rows of \(dimension)")
        let n = points.count / dimension
        precondition(n >= 3, "UMAP: needs at least 3 points, got \(n)")
        precondition(neighbours >= 2, "UMAP: neighbours must be at least 2, got \(neighbours)")
        let k = min(neighbours, n)
        let epochs = epochCount(points: n)
        precondition(epochs >= 1, "UMAP: epochs must be at least 1, got \(epochs)")

        let knn = NearestNeighbours(points, dimension: dimension, k: k)
        let graph = FuzzyGraph(knn, epochs: epochs)
        let (a, b) = Self.curveParameters(spread: spread, minimumDistance: minimumDistance)
        var generator = SeededGenerator(seed: seed)
        var layout = initialLayout(points, dimension: dimension, count: n, generator: &generator)
        try optimize(&layout, graph: graph, count: n, epochs: epochs, a: a, b: b, generator: &generator, onEpoch: onEpoch)
        return layout
    }

    /// PCA scaled so the largest coordinate is 10, a little noise (so no two points start
    /// equal), then each axis stretched to [0, 10], as umap-learn starts.
    func initialLayout(_ points: [Float], dimension: Int, count n: Int, generator: inout SeededGenerator) -> [Float] {
        var layout = PCA.project(points, dimension: dimension, components: 2)
        let largest = layout.map { abs($0) }.max() ?? 0
        let expansion: Float = largest > 0 ? 10 / largest : 1
        for i in layout.indices { layout[i] = layout[i] * expansion + 1e-4 * generator.nextNormal() }
        for axis in 0..<2 {
            var low = Float.infinity, high = -Float.infinity
            for i in 0..<n { low = min(low, layout[2 * i + axis]); high = max(high, layout[2 * i + axis]) }
            let range = high - low
            for i in 0..<n { layout[2 * i + axis] = range > 0 ? 10 * (layout[2 * i + axis] - low) / range : 0 }
        }
        return layout
    }

    func optimize(_ y: inout [Float], graph: FuzzyGraph, count n: Int, epochs: Int, a: Double, b: Double,
                  generator: inout SeededGenerator, onEpoch: (Int, Int) throws -> Void) rethrows {
        let (a, b) = (Float(a), Float(b))
        let gamma = Float(repulsion)
        let edges = graph.heads.count
        let perSample = graph.epochsPerSample
        let perNegative = perSample.map { $0 / Double(negativeSamples) }
        var nextSample = perSample
        var nextNegative = perNegative
        @inline(__always) func clip(_ g: Float) -> Float { min(4, max(-4, g)) }
        try y.withUnsafeMutableBufferPointer { y in
            for epoch in 0..<epochs {
                let alpha = Float(learningRate * (1 - Double(epoch) / Double(epochs)))
                let now = Double(epoch)
                for e in 0..<edges where nextSample[e] <= now {
                    let j = graph.heads[e], k = graph.tails[e]
                    // Attraction along the edge, both ends moving.
                    var dx = y[2 * j] - y[2 * k], dy = y[2 * j + 1] - y[2 * k + 1]
                    let d2 = dx * dx + dy * dy
                    if d2 > 0 {
                        let coefficient = -2 * a * b * powf(d2, b - 1) / (a * powf(d2, b) + 1)
                        let gx = clip(coefficient * dx) * alpha, gy = clip(coefficient * dy) * alpha
                        y[2 * j] += gx; y[2 * j + 1] += gy
                        y[2 * k] -= gx; y[2 * k + 1] -= gy
                    }
                    nextSample[e] += perSample[e]
                    // Repulsion from random points, as many as are due since the last time.
                    let negatives = Int((now - nextNegative[e]) / perNegative[e])
                    for _ in 0..<max(0, negatives) {
                        let other = Int(generator.next() % UInt64(n))
                        dx = y[2 * j] - y[2 * other]; dy = y[2 * j + 1] - y[2 * other + 1]
                        let d2 = dx * dx + dy * dy
                        if d2 > 0 {
                            let coefficient = 2 * gamma * b / ((0.001 + d2) * (a * powf(d2, b) + 1))
                            if coefficient > 0 {
                                y[2 * j] += clip(coefficient * dx) * alpha
                                y[2 * j + 1] += clip(coefficient * dy) * alpha
                            }
                        }
                    }
                    nextNegative[e] += Double(max(0, negatives)) * perNegative[e]
                }
                try onEpoch(epoch + 1, epochs)
            }
        }
    }

    /// a and b of the low-dimensional similarity 1 / (1 + a d^(2b)), fitted by least
    /// squares (Levenberg-Marquardt) to 1 below `minimumDistance` and exp(-(d - min) / spread)
    /// above, on 300 points over [0, 3 spread], as umap-learn's find_ab_params.
    public static func curveParameters(spread: Double, minimumDistance: Double) -> (a: Double, b: Double) {
        let xs = (0..<300).map { 3 * spread * Double($0) / 299 }
        let ys = xs.map { $0 < minimumDistance ? 1 : exp(-($0 - minimumDistance) / spread) }
        func residuals(_ a: Double, _ b: Double) -> (sum: Double, gradient: (Double, Double), hessian: (Double, Double, Double)) {
            var sum = 0.0, ga = 0.0, gb = 0.0, haa = 0.0, hab = 0.0, hbb = 0.0
            for (x, y) in zip(xs, ys) {
                let p = x > 0 ? pow(x, 2 * b) : 0
                let f = 1 / (1 + a * p)
                let r = f - y
                // Derivatives of f in a and b.
                let da = -p * f * f
                let db = x > 0 ? -a * p * 2 * log(x) * f * f : 0
                sum += r * r
                ga += da * r; gb += db * r
                haa += da * da; hab += da * db; hbb += db * db
            }
            return (sum, (ga, gb), (haa, hab, hbb))
        }
        var (a, b) = (1.0, 1.0)
        var damping = 1e-3
        var current = residuals(a, b)
        for _ in 0..<500 {
            let (ga, gb) = current.gradient
            let (haa, hab, hbb) = current.hessian
            let (m11, m22) = (haa * (1 + damping), hbb * (1 + damping))
            let determinant = m11 * m22 - hab * hab
            guard determinant != 0 else { break }
            let stepA = -(m22 * ga - hab * gb) / determinant
            let stepB = -(m11 * gb - hab * ga) / determinant
            let trial = residuals(a + stepA, b + stepB)
            if trial.sum < current.sum {
                (a, b) = (a + stepA, b + stepB)
                let improvement = current.sum - trial.sum
                current = trial
                damping = max(damping / 10, 1e-12)
                if improvement < 1e-15 * max(1, trial.sum), abs(stepA) + abs(stepB) < 1e-12 { break }
            } else {
                damping *= 10
                if damping > 1e12 { break }
            }
        }
        return (a, b)
    }
}

/// Each point's k nearest points (itself first, at distance 0), exact, nearest first;
/// ties go to the lower index.
struct NearestNeighbours {
    let count: Int
    let k: Int
    /// count x k, row-major.
    var indices: [Int]
    var distances: [Double]

    init(_ points: [Float], dimension d: Int, k: Int) {
        let n = points.count / d
        precondition(k >= 1 && k <= n, "NearestNeighbours: k = \(k) for \(n) points")
        count = n
        self.k = k
        var indices = [Int](repeating: 0, count: n * k)
        var distances = [Double](repeating: 0, count: n * k)
        // Candidates come from squared distances through one GEMM per block of rows
        // (|x|^2 + |y|^2 - 2 x.y); a few more than needed are then measured exactly, so
        // the GEMM's rounding can reorder only near-ties that the exact pass settles.
        let candidates = min(n - 1, k - 1 + 8)
        let all = Tensor(shape: [n, d], values: points)
        var norms = [Float](repeating: 0, count: n)
        for i in 0..<n { var s: Float = 0; for c in 0..<d { s += points[i * d + c] * points[i * d + c] }; norms[i] = s }
        let block = 256
        indices.withUnsafeMutableBufferPointer { indices in
            distances.withUnsafeMutableBufferPointer { distances in
                points.withUnsafeBufferPointer { x in
                    for start in stride(from: 0, to: n, by: block) {
                        let rows = min(block, n - start)
                        let slice = Tensor(shape: [rows, d], values: Array(points[(start * d)..<((start + rows) * d)]))
                        let gram = slice.matmul(all, transposeOther: true).values
                        Parallel.forChunks(rows, grain: 8) { range in
                            var best: [(Float, Int)] = []
                            best.reserveCapacity(candidates + 1)
                            for r in range {
                                let i = start + r
                                best.removeAll(keepingCapacity: true)
                                for j in 0..<n where j != i {
                                    let squared = norms[i] + norms[j] - 2 * gram[r * n + j]
                                    if best.count == candidates, squared >= best[candidates - 1].0 { continue }
                                    var at = best.count
                                    while at > 0, best[at - 1].0 > squared { at -= 1 }
                                    best.insert((squared, j), at: at)
                                    if best.count > candidates { best.removeLast() }
                                }
                                var exact = best.map { _, j -> (Double, Int) in
                                    var s = 0.0
                                    for c in 0..<d { let t = Double(x[i * d + c]) - Double(x[j * d + c]); s += t * t }
                                    return (s.squareRoot(), j)
                                }
                                exact.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                                indices[i * k] = i
                                distances[i * k] = 0
                                for m in 0..<(k - 1) {
                                    indices[i * k + 1 + m] = exact[m].1
                                    distances[i * k + 1 + m] = exact[m].0
                                }
                            }
                        }
                    }
                }
            }
        }
        self.indices = indices
        self.distances = distances
    }
}

/// The fuzzy simplicial set of a k-nearest-neighbour graph as directed edges (both
/// directions of every symmetric edge), sorted by head then tail, with each edge's
/// epochs between samples.
struct FuzzyGraph {
    var heads: [Int] = []
    var tails: [Int] = []
    var weights: [Double] = []
    /// Edge e is sampled every `epochsPerSample[e]` epochs: the strongest every epoch.
    var epochsPerSample: [Double] = []

    init(_ knn: NearestNeighbours, epochs: Int) {
        let (n, k) = (knn.count, knn.k)
        let (sigmas, rhos) = Self.smoothDistances(knn)
        // Directed memberships: exp(-(d - rho) / sigma), 1 for the nearest, 0 for itself.
        var directed = [[(Int, Double)]](repeating: [], count: n)
        for i in 0..<n {
            for m in 0..<k {
                let j = knn.indices[i * k + m]
                guard j != i else { continue }
                let excess = knn.distances[i * k + m] - rhos[i]
                let weight = excess <= 0 || sigmas[i] == 0 ? 1 : exp(-excess / sigmas[i])
                directed[i].append((j, weight))
            }
        }
        func membership(_ i: Int, _ j: Int) -> Double { directed[i].first { $0.0 == j }?.1 ?? 0 }
        // Fuzzy union: a + b - ab.
        var rows = [[(Int, Double)]](repeating: [], count: n)
        for i in 0..<n {
            for (j, a) in directed[i] {
                let b = membership(j, i)
                let union = a + b - a * b
                rows[i].append((j, union))
                if !directed[j].contains(where: { $0.0 == i }) { rows[j].append((i, union)) }
            }
        }
        let strongest = rows.joined().map(\.1).max() ?? 0
        // Edges too weak to be sampled once in the whole run are dropped (as umap-learn).
        let threshold = strongest / Double(epochs)
        for i in 0..<n {
            for (j, w) in rows[i].sorted(by: { $0.0 < $1.0 }) where w > 0 && w >= threshold {
                heads.append(i)
                tails.append(j)
                weights.append(w)
            }
        }
        epochsPerSample = weights.map { strongest / $0 }
    }

    /// Per point, rho (the distance to its nearest other point) and sigma, found by
    /// bisection so that the memberships of its k - 1 neighbours sum to log2(k).
    static func smoothDistances(_ knn: NearestNeighbours) -> (sigmas: [Double], rhos: [Double]) {
        let (n, k) = (knn.count, knn.k)
        let target = log2(Double(k))
        let meanOfAll = knn.distances.reduce(0, +) / Double(max(1, knn.distances.count))
        var sigmas = [Double](repeating: 0, count: n), rhos = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let row = knn.distances[(i * k)..<((i + 1) * k)]
            let rho = row.first { $0 > 0 } ?? 0
            var (low, high, mid) = (0.0, Double.infinity, 1.0)
            for _ in 0..<64 {
                var sum = 0.0
                for d in row.dropFirst() {
                    let excess = d - rho
                    sum += excess > 0 ? exp(-excess / mid) : 1
                }
                if abs(sum - target) < 1e-5 { break }
                if sum > target {
                    high = mid
                    mid = (low + high) / 2
                } else {
                    low = mid
                    mid = high == .infinity ? mid * 2 : (low + high) / 2
                }
            }
            // A floor, so a point amid duplicates does not get a zero bandwidth.
            let mean = rho > 0 ? row.reduce(0, +) / Double(k) : meanOfAll
            sigmas[i] = max(mid, 1e-3 * mean)
            rhos[i] = rho
        }
        return (sigmas, rhos)
    }
}

/// Principal component analysis by the covariance's leading eigenvectors.
public enum PCA {
    /// The n x `components` projection (row-major) of the centred points onto their leading
    /// principal axes. Signs are fixed: each axis's largest-magnitude loading is positive.
    public static func project(_ points: [Float], dimension d: Int, components: Int = 2) -> [Float] {
        precondition(d > 0 && points.count % d == 0, "PCA: \(points.count) values are not rows of \(d)")
        precondition(components >= 1 && components <= d, "PCA: \(components) components of \(d) dimensions")
        let n = points.count / d
        guard n > 0 else { return [] }
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for c in 0..<d { mean[c] += Double(points[i * d + c]) } }
        for c in 0..<d { mean[c] /= Double(n) }
        let centred = (0..<(n * d)).map { Float(Double(points[$0]) - mean[$0 % d]) }
        let axes = principalAxes(centred, count: n, dimension: d, components: components)
        var projected = [Float](repeating: 0, count: n * components)
        for i in 0..<n {
            for a in 0..<components {
                var s = 0.0
                for c in 0..<d { s += Double(centred[i * d + c]) * axes[a][c] }
                projected[i * components + a] = Float(s)
            }
        }
        return projected
    }

    /// The leading unit eigenvectors of XᵀX, largest eigenvalue first, sign-fixed.
    static func principalAxes(_ centred: [Float], count n: Int, dimension d: Int, components: Int) -> [[Double]] {
        let x = Tensor(shape: [n, d], values: centred)
        let covariance = x.matmul(x, transposeSelf: true).values.map(Double.init)
        var axes: [[Double]]
        if d <= 64 {
            axes = symmetricEigen(covariance, size: d).vectors
        } else {
            axes = subspaceIteration(covariance, size: d, wanted: components)
        }
        axes = Array(axes.prefix(components))
        for a in axes.indices {
            var largest = 0
            for c in 0..<d where abs(axes[a][c]) > abs(axes[a][largest]) { largest = c }
            if axes[a][largest] < 0 { axes[a] = axes[a].map { -$0 } }
        }
        return axes
    }

    /// Eigenvalues (descending) and their unit eigenvectors of a symmetric matrix, by cyclic Jacobi.
    static func symmetricEigen(_ matrix: [Double], size m: Int) -> (values: [Double], vectors: [[Double]]) {
        var a = matrix
        var v = [Double](repeating: 0, count: m * m)
        for i in 0..<m { v[i * m + i] = 1 }
        let scale = max(a.map { abs($0) }.max() ?? 0, 1e-300)
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<m { for q in (p + 1)..<max(p + 1, m) { off += a[p * m + q] * a[p * m + q] } }
            if off.squareRoot() <= 1e-15 * scale { break }
            for p in 0..<m {
                for q in (p + 1)..<max(p + 1, m) where a[p * m + q] != 0 {
                    let theta = (a[q * m + q] - a[p * m + p]) / (2 * a[p * m + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for r in 0..<m {
                        let (arp, arq) = (a[r * m + p], a[r * m + q])
                        a[r * m + p] = c * arp - s * arq
                        a[r * m + q] = s * arp + c * arq
                    }
                    for r in 0..<m {
                        let (apr, aqr) = (a[p * m + r], a[q * m + r])
                        a[p * m + r] = c * apr - s * aqr
                        a[q * m + r] = s * apr + c * aqr
                    }
                    for r in 0..<m {
                        let (vrp, vrq) = (v[r * m + p], v[r * m + q])
                        v[r * m + p] = c * vrp - s * vrq
                        v[r * m + q] = s * vrp + c * vrq
                    }
                }
            }
        }
        let order = (0..<m).sorted { a[$0 * m + $0] > a[$1 * m + $1] || (a[$0 * m + $0] == a[$1 * m + $1] && $0 < $1) }
        return (order.map { a[$0 * m + $0] }, order.map { column in (0..<m).map { v[$0 * m + column] } })
    }

    /// The leading eigenvectors of a large symmetric matrix: a block of a few more vectors
    /// than wanted, multiplied by the matrix and re-orthonormalized until its Ritz values
    /// settle, then rotated by the block's own eigenvectors. Starts from a fixed seed.
    static func subspaceIteration(_ matrix: [Double], size m: Int, wanted: Int) -> [[Double]] {
        let width = min(m, wanted + 6)
        var generator = SeededGenerator(seed: 0x5CA1AB1E)
        var block = (0..<width).map { _ in (0..<m).map { _ in Double(generator.nextNormal()) } }
        func orthonormalize(_ vectors: inout [[Double]]) {
            for i in vectors.indices {
                for j in 0..<i {
                    let dot = zip(vectors[i], vectors[j]).reduce(0) { $0 + $1.0 * $1.1 }
                    for c in 0..<m { vectors[i][c] -= dot * vectors[j][c] }
                }
                let norm = vectors[i].reduce(0) { $0 + $1 * $1 }.squareRoot()
                vectors[i] = norm > 0 ? vectors[i].map { $0 / norm } : vectors[i]
            }
        }
        func multiply(_ vector: [Double]) -> [Double] {
            (0..<m).map { r in
                var s = 0.0
                for c in 0..<m { s += matrix[r * m + c] * vector[c] }
                return s
            }
        }
        orthonormalize(&block)
        var previous = [Double](repeating: 0, count: wanted)
        for iteration in 1...300 {
            block = block.map(multiply)
            orthonormalize(&block)
            if iteration % 5 == 0 {
                let products = block.map(multiply)
                let ritz = (0..<wanted).map { zip(block[$0], products[$0]).reduce(0) { $0 + $1.0 * $1.1 } }
                let settled = zip(ritz, previous).allSatisfy { abs($0 - $1) <= 1e-12 * max(abs($0), 1e-300) }
                previous = ritz
                if settled { break }
            }
        }
        // Rayleigh-Ritz: the block's own eigenvectors order and separate its directions.
        let products = block.map(multiply)
        var small = [Double](repeating: 0, count: width * width)
        for i in 0..<width { for j in 0..<width { small[i * width + j] = zip(block[i], products[j]).reduce(0) { $0 + $1.0 * $1.1 } } }
        let (_, rotations) = symmetricEigen(small, size: width)
        return rotations.map { rotation in
            (0..<m).map { c in (0..<width).reduce(0.0) { $0 + rotation[$1] * block[$1][c] } }
        }
    }
}

/// How far `lowDimensional` keeps the neighbourhoods of `high` (Venna & Kaski), as
/// sklearn.manifold.trustworthiness with Euclidean distances: 1 minus a penalty for each
/// of a point's k nearest neighbours in the embedding by how far past k it ranks among
/// its neighbours in the original space. 1 is perfect. Rows of `dimension` values in
/// `high`; `lowDimensional` has as many rows (of any width).
public func trustworthiness(high: [Float], lowDimensional: [Float], dimension d: Int, neighbours k: Int = 5) -> Double {
    precondition(d > 0 && high.count % d == 0, "trustworthiness: \(high.count) values are not rows of \(d)")
    let n = high.count / d
    precondition(n > 0 && lowDimensional.count % n == 0, "trustworthiness: \(lowDimensional.count) embedded values for \(n) points")
    let e = lowDimensional.count / n
    precondition(k >= 1 && Double(k) < Double(n) / 2, "trustworthiness: neighbours must be below n / 2 = \(Double(n) / 2), got \(k)")
    var penalties = [Double](repeating: 0, count: n)
    penalties.withUnsafeMutableBufferPointer { penalties in
        Parallel.forChunks(n, grain: 16) { range in
            var highDistances = [Double](repeating: 0, count: n)
            var lowDistances = [(Double, Int)]()
            lowDistances.reserveCapacity(n)
            for i in range {
                lowDistances.removeAll(keepingCapacity: true)
                for j in 0..<n {
                    var s = 0.0
                    for c in 0..<d { let t = Double(high[i * d + c]) - Double(high[j * d + c]); s += t * t }
                    highDistances[j] = s
                    if j != i {
                        var l = 0.0
                        for c in 0..<e { let t = Double(lowDimensional[i * e + c]) - Double(lowDimensional[j * e + c]); l += t * t }
                        lowDistances.append((l, j))
                    }
                }
                lowDistances.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                var penalty = 0.0
                for (_, j) in lowDistances.prefix(k) {
                    // j's rank among i's neighbours in the original space (1 = nearest).
                    var rank = 1
                    for l in 0..<n where l != i && l != j {
                        if highDistances[l] < highDistances[j] || (highDistances[l] == highDistances[j] && l < j) { rank += 1 }
                    }
                    if rank > k { penalty += Double(rank - k) }
                }
                penalties[i] = penalty
            }
        }
    }
    let total = penalties.reduce(0, +)
    let (nd, kd) = (Double(n), Double(k))
    return 1 - total * 2 / (nd * kd * (2 * nd - 3 * kd - 1))
}

import Foundation

/// The modality gap between unit image and text embeddings (Liang et al. 2022).
public struct ModalityGap: Sendable {
    /// Distance between the two modalities' centroids.
    public let centroidDistance: Double
    /// Share of points nearer their own modality's centroid than the other's.
    public let nearestCentroidAccuracy: Double
    /// Mean cosine of image i with its own text i (rows are pairs; the first
    /// min(images, texts) rows of each are taken). NaN without pairs.
    public let matchedCosine: Double
    /// Mean cosine of image i with the texts j != i of the other pairs. NaN below 2 pairs.
    public let unmatchedCosine: Double
    /// Pairs the cosines are over.
    public let pairs: Int

    public init(images: [Float], texts: [Float], dimension d: Int) {
        func centroid(_ v: [Float]) -> [Double] {
            let n = v.count / d
            return (0..<d).map { k in (0..<n).reduce(0.0) { $0 + Double(v[$1 * d + k]) } / Double(max(n, 1)) }
        }
        let (ci, ct) = (centroid(images), centroid(texts))
        centroidDistance = zip(ci, ct).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        func nearOwn(_ v: [Float], own: [Double], other: [Double]) -> Int {
            (0..<(v.count / d)).filter { i in
                let row = (0..<d).map { Double(v[i * d + $0]) }
                let a = zip(row, own).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
                let b = zip(row, other).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
                return a < b
            }.count
        }
        let correct = nearOwn(images, own: ci, other: ct) + nearOwn(texts, own: ct, other: ci)
        nearestCentroidAccuracy = Double(correct) / Double(max(1, (images.count + texts.count) / d))

        let pairs = min(images.count, texts.count) / d
        self.pairs = pairs
        func unitRow(_ v: [Float], _ i: Int) -> [Double] {
            let row = (0..<d).map { Double(v[i * d + $0]) }
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? row.map { $0 / norm } : row
        }
        // The sum over all (i, j) of image_i . text_j is (sum of images) . (sum of texts), so
        // the unmatched mean is that less the matched sum, over n(n - 1) pairs.
        var imageSum = [Double](repeating: 0, count: d), textSum = [Double](repeating: 0, count: d)
        var matched = 0.0
        for i in 0..<pairs {
            let (image, text) = (unitRow(images, i), unitRow(texts, i))
            for k in 0..<d { imageSum[k] += image[k]; textSum[k] += text[k] }
            matched += zip(image, text).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let all = zip(imageSum, textSum).reduce(0) { $0 + $1.0 * $1.1 }
        matchedCosine = pairs > 0 ? matched / Double(pairs) : .nan
        unmatchedCosine = pairs > 1 ? (all - matched) / Double(pairs * (pairs - 1)) : .nan
    }
}

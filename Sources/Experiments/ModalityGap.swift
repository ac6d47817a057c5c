import Foundation

/// The modality gap between unit image and text embeddings (Liang et al. 2022).
public struct ModalityGap: Sendable {
    /// Distance between the two modalities' centroids.
    public let centroidDistance: Double
    /// Share of points nearer their own modality's centroid than the other's.
    public let nearestCentroidAccuracy: Double

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
    }
}

import Foundation
import Imaging
import Tensor

/// The vocabulary of the toy world: shapes, colours and words that can be drawn.
public enum ToyWorld {
    public enum Shape: String, CaseIterable, Codable, Sendable {
        case circle, square, triangle, star, heart, cross, ring, moon, diamond, arrow, hexagon, smiley
    }

    public enum Ink: String, CaseIterable, Codable, Sendable {
        case red, orange, yellow, green, blue, purple, pink, brown, black, white

        public var color: Color {
            switch self {
            case .red: return Color(220, 30, 30)
            case .orange: return Color(255, 140, 0)
            case .yellow: return Color(240, 220, 20)
            case .green: return Color(30, 170, 50)
            case .blue: return Color(30, 70, 220)
            case .purple: return Color(130, 40, 160)
            case .pink: return Color(255, 150, 190)
            case .brown: return Color(120, 70, 30)
            case .black: return Color(15, 15, 15)
            case .white: return Color(245, 245, 245)
            }
        }
    }

    /// Written words beyond shape and colour names: concepts a neuron may learn to
    /// share between pictures and text (only the shapes have pictures).
    public static let conceptWords = [
        "dog", "cat", "sun", "tree", "car", "house", "fish", "bird", "apple", "music", "love", "happy",
        "sad", "fire", "water", "book", "phone", "pizza", "king", "money", "time", "snow", "rain", "night",
        "smile", "game", "peace", "danger", "gold", "ice",
    ]

    /// Every word a scene may carry: shape names, colour names, concepts.
    public static let words: [String] = Shape.allCases.map(\.rawValue) + Ink.allCases.map(\.rawValue) + conceptWords
}

/// What one scene shows; rendering it is deterministic.
public struct SceneSpec: Codable, Equatable, Sendable {
    public enum Background: String, Codable, Sendable { case flat, gradient, noise }

    public struct Object: Codable, Equatable, Sendable {
        public var shape: ToyWorld.Shape
        public var ink: ToyWorld.Ink
        /// Centre and radius as fractions of the image side; rotation in radians.
        public var centerX: Double, centerY: Double, radius: Double, rotation: Double
    }

    public struct Word: Codable, Equatable, Sendable {
        public var text: String
        public var ink: ToyWorld.Ink
        public var outlined: Bool
        /// Centre as fractions of the image side; size in pixels per image pixel.
        public var centerX: Double, centerY: Double, size: Double
    }

    public var resolution: Int
    public var background: Background
    public var backgroundColors: [UInt8]   // two RGB colours
    public var noiseSeed: UInt64
    public var object: Object?
    public var word: Word?
}

/// Draws scenes into images.
public struct SceneRenderer {
    let font: Font

    public init(font: Font) { self.font = font }

    public func render(_ spec: SceneSpec) -> Image {
        let n = spec.resolution
        var image = background(spec)
        if let object = spec.object { draw(object, into: &image, side: Double(n)) }
        if let word = spec.word {
            let style = TextStyle(size: word.size * Double(n), color: word.ink.color,
                                  outline: word.outlined ? max(1, word.size * Double(n) / 10) : 0,
                                  outlineColor: word.ink == .black ? .white : .black)
            image.draw(text: word.text, centerX: Int(word.centerX * Double(n)), centerY: Int(word.centerY * Double(n)),
                       font: font, style: style)
        }
        return image
    }

    func background(_ spec: SceneSpec) -> Image {
        let n = spec.resolution
        let c = spec.backgroundColors
        var pixels = [UInt8](repeating: 0, count: n * n * 3)
        var generator = SeededGenerator(seed: spec.noiseSeed)
        for y in 0..<n {
            for x in 0..<n {
                let t: Double
                switch spec.background {
                case .flat: t = 0
                case .gradient: t = Double(x + y) / Double(2 * n - 2)
                case .noise: t = Double(generator.nextUniform()) * 0.35
                }
                for k in 0..<3 {
                    pixels[(y * n + x) * 3 + k] = UInt8((1 - t) * Double(c[k]) + t * Double(c[3 + k]))
                }
            }
        }
        return Image(width: n, height: n, channels: 3, pixels: pixels)
    }

    func draw(_ object: SceneSpec.Object, into image: inout Image, side: Double) {
        let cx = object.centerX * side, cy = object.centerY * side, r = object.radius * side
        let color = object.ink.color
        func place(_ points: [(Double, Double)]) -> [(x: Double, y: Double)] {
            let (s, c) = (sin(object.rotation), cos(object.rotation))
            return points.map { p in (x: cx + r * (p.0 * c - p.1 * s), y: cy + r * (p.0 * s + p.1 * c)) }
        }
        func regular(_ count: Int, phase: Double = -.pi / 2) -> [(Double, Double)] {
            (0..<count).map { i in let a = phase + 2 * .pi * Double(i) / Double(count); return (cos(a), sin(a)) }
        }
        switch object.shape {
        case .circle:
            image.fillCircle(center: (cx, cy), radius: r, color: color)
        case .ring:
            image.drawPolyline(place(regular(48) + [regular(48)[0]]), color: color, thickness: max(2, r * 0.3))
        case .square:
            image.fillPolygon(place([(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]), color: color)
        case .triangle:
            image.fillPolygon(place(regular(3)), color: color)
        case .diamond:
            image.fillPolygon(place([(0, -1), (0.65, 0), (0, 1), (-0.65, 0)]), color: color)
        case .hexagon:
            image.fillPolygon(place(regular(6, phase: 0)), color: color)
        case .star:
            let points = (0..<10).map { i -> (Double, Double) in
                let a = -.pi / 2 + .pi * Double(i) / 5, radius = i % 2 == 0 ? 1.0 : 0.42
                return (radius * cos(a), radius * sin(a))
            }
            image.fillPolygon(place(points), color: color)
        case .cross:
            let a = 0.3
            image.fillPolygon(place([(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a),
                                     (-1, -a), (-a, -a)]), color: color)
        case .arrow:
            image.fillPolygon(place([(-1, -0.25), (0.2, -0.25), (0.2, -0.6), (1, 0), (0.2, 0.6), (0.2, 0.25), (-1, 0.25)]),
                              color: color)
        case .heart:
            let points = (0..<48).map { i -> (Double, Double) in
                let t = 2 * .pi * Double(i) / 48
                return (pow(sin(t), 3) * 0.95, -(13 * cos(t) - 5 * cos(2 * t) - 2 * cos(3 * t) - cos(4 * t)) / 16 * 0.95)
            }
            image.fillPolygon(place(points), color: color)
        case .moon:
            // Outer arc forward, inner (offset) arc back: a crescent.
            let outer = (0...24).map { i -> (Double, Double) in let a = .pi / 2 + .pi * Double(i) / 24; return (cos(a), sin(a)) }
            let inner = (0...24).reversed().map { i -> (Double, Double) in
                let a = .pi / 2 + .pi * Double(i) / 24
                return (0.45 * cos(a) - 0.1, sin(a))
            }
            image.fillPolygon(place(outer + inner), color: color)
        case .smiley:
            image.fillCircle(center: (cx, cy), radius: r, color: color)
            let feature = object.ink == .black || object.ink == .brown || object.ink == .blue || object.ink == .purple
                ? Color.white : Color.black
            for (ex, ey) in [(-0.35, -0.3), (0.35, -0.3)] {
                let p = place([(ex, ey)])[0]
                image.fillCircle(center: (p.x, p.y), radius: r * 0.13, color: feature)
            }
            let mouth = (0...12).map { i -> (Double, Double) in
                let a = .pi * 0.15 + .pi * 0.7 * Double(i) / 12
                return (0.55 * cos(a), 0.55 * sin(a))
            }
            image.drawPolyline(place(mouth), color: feature, thickness: max(1.5, r * 0.12))
        }
    }
}

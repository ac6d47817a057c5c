import Foundation

extension Tensor {
    /// [N, C, H, W] with item n moved down `rows[n]` and right `columns[n]` pixels (negative:
    /// up, left). Pixels moved in from outside are zero, or, when `circular`, those moved out
    /// on the other side (a roll). The gradient moves back the other way.
    public func shifted(rows: [Int], columns: [Int], circular: Bool = false) -> Tensor {
        precondition(rank == 4, "shifted: expected [N, C, H, W], got \(shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        precondition(rows.count == n && columns.count == n, "shifted: one shift per item (\(n)), got \(rows.count) and \(columns.count)")
        let out = Tensor(shape: shape, repeating: 0)
        let source = data, target = out.data
        for item in 0..<n {
            let dy = rows[item], dx = columns[item]
            // Columns of an output row that come from inside the input row, as (output start, input start, count) spans.
            var spans: [(Int, Int, Int)] = []
            if circular {
                let shift = ((dx % w) + w) % w
                spans = [(shift, 0, w - shift), (0, w - shift, shift)].filter { $0.2 > 0 }
            } else if Swift.abs(dx) < w {
                spans = [(Swift.max(0, dx), Swift.max(0, -dx), w - Swift.abs(dx))]
            }
            for channel in 0..<c {
                let plane = (item * c + channel) * h * w
                for y in 0..<h {
                    var sourceRow = y - dy
                    if circular { sourceRow = ((sourceRow % h) + h) % h } else if sourceRow < 0 || sourceRow >= h { continue }
                    for (to, from, count) in spans {
                        (target + plane + y * w + to).update(from: source + plane + sourceRow * w + from, count: count)
                    }
                }
            }
        }
        return out.recording(circular ? "roll" : "shift", [self]) { g in
            [g.shifted(rows: rows.map { -$0 }, columns: columns.map { -$0 }, circular: circular)]
        }
    }
}

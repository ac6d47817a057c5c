import Experiments
import Foundation

/// The attack lab's keys: it takes every printable character as text (so `q`, `?` and `:`
/// are typed), its commands are control keys (^S would be flow control).
extension AttackLab {
    static let keys = KeyTable(title: "attack lab", bindings: [
        Binding.typing("letters", "type the attack text (scored as you type)") { state, key in
            state.editLab { lab in
                guard case let .character(character) = key else { return false }
                lab.text.append(character)
                return true
            }
        },
        Binding([.backspace, .delete], "delete a letter") { state, _ in
            state.editLab { lab in lab.text.popLast() != nil }
        },
        Binding([.control("u")], "delete the text") { state, _ in state.editLab { $0.text = ""; return true } },
        Binding([.left, .right, .up, .down], "move the text", hint: "move") { state, key in
            state.editLab { lab in
                let step = 0.04
                switch key {
                case .left: lab.centerX = max(0, lab.centerX - step)
                case .right: lab.centerX = min(1, lab.centerX + step)
                case .up: lab.centerY = max(0, lab.centerY - step)
                default: lab.centerY = min(1, lab.centerY + step)
                }
                return true
            }
        },
        Binding([.pageUp, .pageDown], "bigger / smaller", hint: "size") { state, key in
            state.editLab { lab in
                let current = lab.size ?? lab.result?.size ?? 20
                lab.size = max(6, min(400, current + (key == .pageUp ? 2 : -2)))
                return true
            }
        },
        Binding([.control("n")], "next text colour", hint: "colour") { state, _ in
            state.editLab { lab in
                lab.fillIndex = (lab.fillIndex + 1) % AttackLab.fills.count
                return true
            }
        },
        Binding([.control("p")], "the paper's eight positions (and back)", hint: "paper's 8") { state, _ in
            state.editLab { $0.paperPlacement.toggle(); return true }
        },
        Binding([.control("w")], "save the attacked image and its scores (a job)", hint: "save", disabled: { state in
            guard let lab = state.lab else { return "no image in the lab" }
            guard lab.isCurrent, let result = lab.result, !lab.text.isEmpty, result.problem == nil else {
                return lab.text.isEmpty ? "type an attack text first" : "wait for the scores of this text"
            }
            return nil
        }) { state, _ in
            guard let lab = state.lab, let result = lab.result else { return [] }
            state.show(.jobs)
            return [.saveAttack(imagePath: lab.imagePath, text: lab.text, style: result.style)]
        },
        Binding([.enter], "score again") { state, _ in state.lab.map { [.rescoreAttack($0.request)] } ?? [] },
    ])
}

extension AppState {
    /// Opens the lab on an image (and asks for its clean scores).
    mutating func openLab(_ path: String) -> [Effect] {
        guard modelReady else {
            report("the attack lab needs the model (still loading)", isError: true)
            return []
        }
        // Generations keep growing across images, so that no answer for the last image passes for this one's.
        let generation = (lab?.generation ?? -1) + 1
        lab = AttackLab(imagePath: path)
        lab!.generation = generation
        show(.lab)
        return [.rescoreAttack(lab!.request)]
    }

    /// A change to the lab's request: a new generation, scored again (nothing when `change` says it changed nothing).
    mutating func editLab(_ change: (inout AttackLab) -> Bool) -> [Effect] {
        guard var lab, change(&lab) else { return [] }
        lab.generation += 1
        self.lab = lab
        return [.rescoreAttack(lab.request)]
    }

    /// An answer from the evaluator: kept only when it answers the newest request.
    mutating func labScored(_ result: AttackLabResult) {
        guard lab != nil, result.generation == lab!.generation else { return }
        lab!.result = result
    }
}

// MARK: View

extension AttackLab: Pane {
    static func draw(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] { Panes.labPane(state, canvas, area) }
}


extension Panes {
    static func labPane(_ state: AppState, _ canvas: Canvas, _ area: Rect) -> [ImagePlacement] {
        guard let lab = state.lab else { return [] }
        canvas.put(area.top, 0, "attack " + lab.imagePath, width: area.width, .title)
        let (pictureArea, side) = Rect(top: area.top + 1, left: 0, height: area.height - 1, width: area.width)
            .splitLeft(max(20, area.width - 44))
        var lines: [(String, Style)] = [(TextCanvas.fittedEnd("text: " + lab.text + "█", width: side.width - 1), .bold)]
        if let result = lab.result { lines += labPlacement(result) }
        lines.append((lab.isCurrent ? "" : "scoring ...", .accent))
        if let result = lab.result { lines += labScores(lab, result) }
        lines.append(("", .plain))
        let hints = Bindings.hintItems(for: .lab) + ["Esc: back"]
        lines += wrapped(hints.joined(separator: "\u{1}"), width: side.width - 1, separator: "\u{1}", joiner: " · ").map { ($0, .dim) }
        for (row, (text, style)) in zip(side.top..<side.bottom, lines) {
            canvas.put(row, side.left + 1, text, width: side.width - 1, style)
        }
        let source: ImageSource = lab.result.map { .attackLab(generation: $0.generation) } ?? .file(lab.imagePath)
        return [ImagePlacement(source: source, rect: pictureArea.inset(0))]
    }

    /// Where and how the text is drawn, its coverage, and why it could not be.
    static func labPlacement(_ result: AttackLabResult) -> [(String, Style)] {
        let place: String
        switch result.style.placement {
        case let .origin(x, y): place = "at \(x),\(y)"
        case .paper: place = "at the paper's 8 places"
        case .centered: place = "centred"
        }
        var lines: [(String, Style)] = [(String(format: "%@, size %.0f, %@ on %@", place, result.size, result.style.fill, result.style.outline), .dim)]
        if let coverage = result.coverage {
            lines.append((String(format: "coverage %.2f%%  changed px %.2f%%", 100 * coverage.coverage, 100 * coverage.changedPixels), .dim))
        }
        if let problem = result.problem { lines.append((problem, .bad)) }
        return lines
    }

    /// The top 5 before and after, with the changes.
    static func labScores(_ lab: AttackLab, _ result: AttackLabResult) -> [(String, Style)] {
        var lines: [(String, Style)] = [("before", .bold)]
        for score in result.comparison.before { lines.append((String(format: "%5.1f%% ", 100 * score.probability) + score.label, .plain)) }
        lines.append(("", .plain))
        lines.append((lab.text.isEmpty ? "after (type a text)" : "after \"\(lab.text)\"", .bold))
        var shown = result.comparison.after
        if let former = result.cleanTopAfter, !shown.contains(where: { $0.label == former.label }) { shown.append(former) }
        for score in shown {
            let delta = score.delta.map { String(format: " %+6.1f", 100 * $0) } ?? ""
            lines.append((String(format: "%5.1f%%", 100 * score.probability) + delta + " " + score.label,
                          (score.delta ?? 0) > 0.005 ? .good : (score.delta ?? 0) < -0.005 ? .bad : .plain))
        }
        return lines
    }
}

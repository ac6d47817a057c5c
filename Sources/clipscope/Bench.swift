import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the operations that matter (build with -c release).")

    func run() throws {}
}

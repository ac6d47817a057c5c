import ArgumentParser
import Foundation
import Imaging
import Tensor
import Terminal
import TUI

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the versions of clipscope and the system libraries it links.")

    func run() throws {
        print("clipscope 0.6.0")
        print("blas      \(BLAS.description) (core \(BLAS.coreName); one thread per call, \(Parallel.workers) workers share GEMM parts)")
        print("ncurses   \(TUILibraries.ncursesVersion)")
        print("libsixel  \(TerminalLibraries.sixelVersion)")
        for (name, version) in ImagingLibraries.versions {
            print(name.padding(toLength: 9, withPad: " ", startingAt: 0), version)
        }
    }
}

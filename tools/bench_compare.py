"""`make bench-compare`: clipscope's timings beside the same work in PyTorch, interleaved
(rounds of clipscope then PyTorch, never at once: both use every core), medians over all
runs. Usage: bench_compare.py CLIPSCOPE_BINARY [--runs N] [--rounds R]."""
import json
import os
import statistics
import subprocess
import sys

NAMES = ["trunk.forward", "trunk.forward_input_grad", "visual.embed", "text.embed", "visualize.step",
         "visualize.step_batch8", "maxtext.step"]
HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.join(HERE, "reference", ".venv-torch", "bin", "python")


def main():
    binary = sys.argv[1]
    runs = sys.argv[sys.argv.index("--runs") + 1] if "--runs" in sys.argv else "5"
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    if not os.path.exists(PYTHON):
        sys.exit("bench-compare: no PyTorch venv at tools/reference/.venv-torch; make it as tools/reference/README.md says")
    a, b = {}, {}
    for _ in range(rounds):
        ours = json.loads(subprocess.run([binary, "bench", "--json", "--runs", runs, "--filter", ",".join(NAMES)],
                                         check=True, capture_output=True, text=True).stdout)
        theirs = json.loads(subprocess.run([PYTHON, os.path.join(HERE, "reference", "torch_bench.py"), "--runs", runs],
                                           check=True, capture_output=True, text=True).stdout)
        for r in ours["results"]:
            a.setdefault(r["name"], []).append(r["seconds"])
        for r in theirs["results"]:
            b.setdefault(r["name"], []).append(r["seconds"])
    print(ours.get("blas", ""))
    print(f"PyTorch {theirs['torch']} ({theirs['threads']} threads); medians of {rounds} interleaved rounds of {runs} runs")
    print(f"{'benchmark':28} {'clipscope':>10} {'PyTorch':>10} {'ratio':>7}")
    for name in NAMES:
        if name in a and name in b:
            ours_s, theirs_s = statistics.median(a[name]), statistics.median(b[name])
            print(f"{name:28} {ours_s:10.4f} {theirs_s:10.4f} {ours_s / theirs_s:7.2f}")


if __name__ == "__main__":
    main()

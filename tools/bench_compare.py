"""`make bench-compare`: clipscope's timings beside the same work in PyTorch, one after the
other (never at once: both use every core). Usage: bench_compare.py CLIPSCOPE_BINARY [--runs N]."""
import json
import os
import subprocess
import sys

NAMES = ["trunk.forward", "trunk.forward_input_grad", "visualize.step", "visualize.step_batch8", "maxtext.step"]
HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.join(HERE, "reference", ".venv-torch", "bin", "python")


def main():
    binary = sys.argv[1]
    runs = sys.argv[sys.argv.index("--runs") + 1] if "--runs" in sys.argv else "5"
    if not os.path.exists(PYTHON):
        sys.exit("bench-compare: no PyTorch venv at tools/reference/.venv-torch; make it as tools/reference/README.md says")
    ours = json.loads(subprocess.run([binary, "bench", "--json", "--runs", runs, "--filter", ",".join(NAMES)],
                                     check=True, capture_output=True, text=True).stdout)
    theirs = json.loads(subprocess.run([PYTHON, os.path.join(HERE, "reference", "torch_bench.py"), "--runs", runs],
                                       check=True, capture_output=True, text=True).stdout)
    a = {r["name"]: r["seconds"] for r in ours["results"]}
    b = {r["name"]: r["seconds"] for r in theirs["results"]}
    print(f"PyTorch {theirs['torch']} ({theirs['threads']} threads), medians of {runs} runs")
    print(f"{'benchmark':28} {'clipscope':>10} {'PyTorch':>10} {'ratio':>7}")
    for name in NAMES:
        if name in a and name in b:
            print(f"{name:28} {a[name]:10.4f} {b[name]:10.4f} {a[name] / b[name]:7.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Key-to-screen latency of the clipscope app, measured through a PTY.

Starts the app in a pseudo-terminal of 120x40, waits for the neuron list, optionally
starts a scan of a folder (so that a job keeps the cores busy), then sends keys (j/k
alternately) and times each key until the first bytes of the redraw come back. Prints
p50 and p95 in milliseconds. Uses only the standard library.

    tools/tui_latency.py --binary .build/release/clipscope --demo DIR [--busy FOLDER] [--keys 200]
"""
import argparse, fcntl, os, pty, select, signal, struct, sys, termios, time


def read_until(fd, needle, timeout):
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            data += chunk
            if needle in data:
                return data
    raise SystemExit(f"timed out waiting for {needle!r}")


def drain(fd, quiet=0.15):
    end = time.time() + quiet
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.02)
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                return
            end = time.time() + quiet


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/clipscope")
    parser.add_argument("--demo", required=True)
    parser.add_argument("--busy", help="a folder of images to scan while measuring")
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--scenes", type=int, default=2400, help="scenes of a demo the app builds on first use")
    args = parser.parse_args()

    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execv(args.binary, [args.binary, "--demo", args.demo, "--demo-scenes", str(args.scenes), "--graphics", "blocks"])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 1200, 800))
    os.kill(pid, signal.SIGWINCH)
    read_until(fd, b"768 of 768", 300)
    if args.busy:
        os.write(fd, f":scan {args.busy}\r".encode())
        read_until(fd, b"images/s", 60)
        os.write(fd, b"\t\t")  # back to the neuron list (jobs -> log -> neurons)
    drain(fd, 0.5)
    times = []
    for i in range(args.keys):
        key = b"j" if i % 2 == 0 else b"k"
        start = time.perf_counter()
        os.write(fd, key)
        ready, _, _ = select.select([fd], [], [], 2.0)
        if not ready:
            continue
        os.read(fd, 65536)
        times.append((time.perf_counter() - start) * 1000)
        drain(fd, 0.03)
    os.write(fd, b":q!\r")
    time.sleep(1)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    times.sort()
    if not times:
        raise SystemExit("no redraw came back")
    p50 = times[len(times) // 2]
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    busy = "while a scan runs" if args.busy else "idle"
    print(f"key-to-screen latency ({busy}, {len(times)} keys): p50 {p50:.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()

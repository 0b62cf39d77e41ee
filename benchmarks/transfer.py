"""Upload throughput and memory of the three streaming bodies, against a raw socket send.

Starts a sink server (its own process) that discards what it reads, writes a test file
(default 512 MB), then, interleaved over ``--reps`` repetitions, uploads it with each
variant in a fresh child process: a raw socket send (the reference), presigned PUT,
multipart form (ours, and requests-toolbelt's ``MultipartEncoder`` for comparison) and
base64-in-JSON (ours with pybase64, and the stdlib ``base64`` for comparison). Each
repetition gives a paired ratio (raw time / variant time, in file bytes); the medians are
reported with the peak RSS growth of the uploading process.

    uv run python benchmarks/transfer.py [--size 512] [--reps 5]

Not a test: the machine is shared and noisy, so only ratios measured side by side count.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGETS = {"put": 0.90, "multipart": 0.80, "base64_json": 0.55, "put_verified": 0.75}
RSS_LIMIT_MB = 32
#: ``put_verified`` is what the hooks send: a ``Creative``'s planned bytes, sha256-verified in the same pass.
VARIANTS = ["raw", "put", "put_verified", "multipart", "base64_json", "toolbelt_multipart", "stdlib_base64_json"]
BLOCK = 1024 * 1024


# ----------------------------------------------------------------------------- sink
def _serve_connection(conn: socket.socket) -> None:
    buffer = bytearray(4 * BLOCK)
    view = memoryview(buffer)
    pending = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            remaining = length - len(pending)
            pending = b"" if remaining >= 0 else pending[length:]
            while remaining > 0:
                got = conn.recv_into(view, min(remaining, len(buffer)))
                if not got:
                    return
                remaining -= got
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


def _sink(port_queue: multiprocessing.Queue) -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port_queue.put(server.getsockname()[1])
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve_connection, args=(conn,), daemon=True).start()


# ----------------------------------------------------------------------------- child
def _child(variant: str, port: int, path: str) -> dict[str, float]:
    import requests

    from airflow_creative_provider import content, transfer  # content imports Airflow: loaded before timing

    assert content.PlannedContent  # a hook process has Airflow loaded already

    size = os.path.getsize(path)
    url = f"http://127.0.0.1:{port}/upload"
    session = requests.Session()
    session.mount("http://", transfer.TransferAdapter())
    fields = {"key": "uploads/asset-1", "policy": "e30=", "x-amz-signature": "0" * 64}

    def raw() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock, open(path, "rb") as handle:
            sock.sendall(f"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
            while chunk := handle.read(BLOCK):
                sock.sendall(chunk)
            sock.recv(1024)

    def put_verified() -> None:
        session.put(url, data=transfer.put_body(planned)).raise_for_status()

    planned = None
    if variant == "put_verified":  # the plan's facts, hashed before the clock starts
        import hashlib

        from airflow_creative_provider.creative import Creative

        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        planned = Creative(path=path, key="creative.bin", size=size, sha256=digest)

    def toolbelt() -> None:
        from requests_toolbelt import MultipartEncoder

        with open(path, "rb") as handle:
            encoder = MultipartEncoder(fields=[*fields.items(), ("file", ("f", handle, "image/png"))])
            session.post(url, data=encoder, headers={"Content-Type": encoder.content_type}).raise_for_status()

    def stdlib_base64() -> None:
        import base64

        class StdlibBody(transfer.Base64JsonBody):
            def _generate(self):  # same chunking, stdlib encoder
                yield self._prefix
                for chunk in self._file_chunks(self._read_block):
                    yield base64.b64encode(chunk)
                yield self._suffix

        body = StdlibBody({"name": "f", "payload": transfer.PAYLOAD}, path)
        session.post(url, data=body, headers={"Content-Type": "application/json"}).raise_for_status()

    actions = {
        "raw": raw,
        "put": lambda: session.put(url, data=transfer.put_body(path)).raise_for_status(),
        "put_verified": put_verified,
        "multipart": lambda: session.post(
            url, data=(b := transfer.form_body(fields, path)), headers={"Content-Type": b.content_type}
        ).raise_for_status(),
        "base64_json": lambda: session.post(
            url,
            data=transfer.base64_json_body({"name": "f", "payload": transfer.PAYLOAD}, path),
            headers={"Content-Type": "application/json"},
        ).raise_for_status(),
        "toolbelt_multipart": toolbelt,
        "stdlib_base64_json": stdlib_base64,
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    actions[variant]()
    seconds = time.perf_counter() - started
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"seconds": seconds, "rss_growth_mb": growth_mb}


# ----------------------------------------------------------------------------- main
def _write_file(path: Path, size_mb: int) -> None:
    block = os.urandom(BLOCK)
    with open(path, "wb") as handle:
        for i in range(size_mb):
            handle.write(block[i % 7 :] + block[: i % 7])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="file size in MB (default 512)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5, at least 5)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.port, args.file)))
        return

    queue: multiprocessing.Queue = multiprocessing.Queue()
    sink = multiprocessing.Process(target=_sink, args=(queue,), daemon=True)
    sink.start()
    port = queue.get(timeout=10)
    results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "creative.bin"
        _write_file(path, args.size)
        print(f"file {args.size} MB, {max(args.reps, 5)} interleaved repetitions, sink on 127.0.0.1:{port}")
        for rep in range(max(args.reps, 5)):
            for variant in VARIANTS:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", variant, "--port", str(port), "--file", str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                # the last line: Airflow's logging may print progress lines above it
                results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  repetition {rep + 1} done", flush=True)
    sink.terminate()

    raw_times = [r["seconds"] for r in results["raw"]]
    raw_rate = args.size / statistics.median(raw_times)
    print(f"raw socket send: {raw_rate:.0f} MB/s (median)")
    verdicts = []
    for variant in VARIANTS[1:]:
        ratios = [raw / r["seconds"] for raw, r in zip(raw_times, results[variant], strict=True)]
        ratio = statistics.median(ratios)
        rss = max(r["rss_growth_mb"] for r in results[variant])
        target = TARGETS.get(variant)
        verdict = ""
        if target is not None:
            ok = ratio >= target and rss < RSS_LIMIT_MB
            verdicts.append(ok)
            verdict = f"target >= {target:.0%} and RSS < {RSS_LIMIT_MB} MB: {'ok' if ok else 'MISSED'}"
        else:
            verdict = "(reference)"
        print(f"{variant:<20} {ratio:6.0%} of raw  peak RSS growth {rss:6.1f} MB  {verdict}")
    print(f"all targets hold: {'yes' if all(verdicts) else 'no'}")


if __name__ == "__main__":
    main()

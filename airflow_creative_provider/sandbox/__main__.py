"""``creative-sandbox``: serve the five platform simulators and S3 on one port."""

from __future__ import annotations

import argparse
import json
import shlex
import time

from airflow_creative_provider.sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="creative-sandbox",
        description="Serve local simulators of Topsort, Amazon Ads, MediaMath, MediaPocket and Delta "
        "Projects, plus an S3 endpoint for presigned uploads. Environment: CREATIVE_SANDBOX_PUBLIC_URL "
        "(the URL clients use), CREATIVE_SANDBOX_S3_HOST / _S3_PORT / _S3_PUBLIC_URL (where the S3 "
        "endpoint listens and how clients reach it), CREATIVE_SANDBOX_CREDENTIALS (JSON: platform -> "
        "fixed credentials, e.g. to match docker-compose's connections).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="port (default 8900; 0 picks a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed for probabilistic faults")
    parser.add_argument("--polls", type=int, default=2, help="status reads until processing finishes")
    parser.add_argument("--seconds", type=float, default=None, help="or seconds until processing finishes")
    args = parser.parse_args(argv)
    server = SandboxServer.from_env(args.host, args.port, seed=args.seed)
    server.state.default_speed.polls = args.polls
    server.state.default_speed.seconds = args.seconds
    server.start()
    print(f"creative sandbox on {server.url}  (control API: {server.url}/_sandbox/docs)")
    for platform in sorted(server.app.modules):
        print(f"  {platform:<15} {server.platform_url(platform)}")
    if server.state.s3 is not None:
        print(f"  {'s3':<15} {server.state.s3.endpoint}")
    print("\nAirflow connections (paste into your shell):")
    for name, value in server.connection_env().items():
        print(f"export {name}={shlex.quote(value)}")
    print(json.dumps({"ready": True}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

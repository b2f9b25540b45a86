#!/usr/bin/env python3
"""The Python original's stack doing attest's full flow, for `cargo xtask bench --compare`.

PyJWT + cryptography, as the 0.1.0 original used them: create a token (EdDSA sign), decode it
with verification (signature, exp with 30 s leeway, iss, aud, required claims), and record its
jti in a dict-based replay cache. The claims are `claims.json` beside this script, the same
claims the Rust benchmarks sign (attest-bench's tests check that they match); iat, exp and jti
are filled in per operation, with a fresh UUID v4 jti each time. The key is the same Ed25519
seed (32 bytes of 7).

Single thread (one core). Prints one JSON object: {"ops_per_sec", "us_per_op", "n", ...}.

    python3 benches/compare/python_flow.py [--seconds 5] [--warmup 1]
"""

import argparse
import json
import os
import platform
import sys
import time
import uuid

import cryptography
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ISSUER = "https://issuer.example"
AUDIENCE = "https://tools.example/mcp"
KID = "bench-key"
TYP = "agent-attestation+jwt"
LIFETIME = 300
LEEWAY = 30
SEED = bytes([7] * 32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measurement time")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up time")
    args = parser.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "claims.json"), encoding="utf-8") as f:
        template = json.load(f)
    private_key = Ed25519PrivateKey.from_private_bytes(SEED)
    public_key = private_key.public_key()
    headers = {"kid": KID, "typ": TYP}
    seen = {}  # jti -> record until (the original's memory replay cache)

    def full_flow():
        now = int(time.time())
        claims = dict(template)
        claims["iat"] = now
        claims["exp"] = now + LIFETIME
        claims["jti"] = str(uuid.uuid4())
        token = jwt.encode(claims, private_key, algorithm="EdDSA", headers=headers)
        decoded = jwt.decode(
            token,
            public_key,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )
        jti = decoded["jti"]
        until = seen.get(jti)
        if until is not None and until > now:
            raise RuntimeError("replay")
        seen[jti] = decoded["exp"] + LEEWAY

    deadline = time.perf_counter() + args.warmup
    while time.perf_counter() < deadline:
        full_flow()

    seen.clear()
    n = 0
    started = time.perf_counter()
    deadline = started + args.seconds
    while True:
        for _ in range(100):
            full_flow()
        n += 100
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - started

    print(
        json.dumps(
            {
                "ops_per_sec": n / elapsed,
                "us_per_op": elapsed / n * 1e6,
                "n": n,
                "seconds": elapsed,
                "python": platform.python_version(),
                "pyjwt": jwt.__version__,
                "cryptography": cryptography.__version__,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())

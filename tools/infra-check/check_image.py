#!/usr/bin/env python3
"""Offline checks of the server image's Dockerfile (no Docker daemon here to build it).

Asserts what docs/operations.md "Images" promises: a multi-stage build whose runtime stage runs as
a numeric non-root user, has a health check through `tiketi probe`, carries the web app where
TIKETI_WEB_DIR points, uses no `latest` or untagged base image, builds with a Rust at least the
workspace's `rust-version`, and keeps local state and builds out of the build context.
checkov's Dockerfile policies run over the same file (./dev test).

    python3 tools/infra-check/check_image.py [--root DIR]

Prints one line per check and `image checks: N passed`; exits 1 on any failure.
"""

import argparse
import re
import shlex
import sys
from pathlib import Path


def instructions(text):
    """(INSTRUCTION, arguments) per logical line: continuations joined, comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        lines.append((word.upper(), rest.strip()))
        current = ""
    return lines


def version(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def run(root):
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))

    dockerfile = root / "Dockerfile"
    if not dockerfile.is_file():
        check("Dockerfile exists", False, str(dockerfile))
        return results
    steps = instructions(dockerfile.read_text())
    stages = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    check("multi-stage build (web app, binary, runtime)", len(stages) >= 3, f"{len(stages)} FROM lines")
    bases = [steps[i][1].split()[0] for i in stages]
    untagged = [b for b in bases if ":" not in b.split("/")[-1] or b.endswith(":latest")]
    check("every base image has a pinned tag, never latest", not untagged, ", ".join(untagged))

    runtime = steps[stages[-1] :] if stages else []
    users = [args for word, args in runtime if word == "USER"]
    uid = users[-1].split(":")[0] if users else ""
    check("runtime stage runs as a numeric non-root user", uid.isdigit() and int(uid) != 0, users[-1] if users else "no USER")
    check("runtime stage has no RUN (distroless has no shell to run it)", not any(w == "RUN" for w, _ in runtime))
    health = [args for word, args in runtime if word == "HEALTHCHECK"]
    check(
        "health check through `tiketi probe`",
        bool(health) and "probe" in health[-1] and "CMD [" in health[-1],
        health[-1] if health else "no HEALTHCHECK",
    )
    entry = [args for word, args in runtime if word == "ENTRYPOINT"]
    check("entrypoint is the tiketi binary (Kubernetes passes `serve --role …`)", bool(entry) and entry[-1].endswith('tiketi"]'))

    env = {}
    for word, args in runtime:
        if word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    copies = [args for word, args in runtime if word == "COPY"]
    web = env.get("TIKETI_WEB_DIR", "")
    check(
        "the web app's build is copied where TIKETI_WEB_DIR points",
        bool(web) and any(c.endswith(" " + web) and "dist" in c for c in copies),
        f"TIKETI_WEB_DIR={web!r}",
    )
    data = env.get("TIKETI_DATA_DIR", "")
    check(
        "TIKETI_DATA_DIR exists in the image, owned by the runtime user",
        bool(data) and any(c.endswith(" " + data) and f"--chown={uid}" in c for c in copies),
        f"TIKETI_DATA_DIR={data!r}",
    )

    cargo = (root / "Cargo.toml").read_text()
    wanted = re.search(r'rust-version\s*=\s*"([^"]+)"', cargo)
    rust = [b for b in bases if b.startswith("rust:")]
    check(
        "the Rust image is at least the workspace's rust-version",
        bool(wanted and rust) and version(rust[0].split(":")[1]) >= version(wanted.group(1)),
        f"{rust} vs {wanted.group(1) if wanted else '?'}",
    )
    check("the binary is built --locked (Cargo.lock as committed)", any("--locked" in a for w, a in steps if w == "RUN"))

    ignore = root / ".dockerignore"
    ignored = set(ignore.read_text().split()) if ignore.is_file() else set()
    missing = {"target/", ".tiketi/", "**/node_modules/", ".git/"} - ignored
    check(".dockerignore keeps builds, local state and packages out", not missing, ", ".join(sorted(missing)))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    results = run(parser.parse_args().root)
    failed = results.count(False)
    print(f"image checks: {results.count(True)} passed" + (f", {failed} failed" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

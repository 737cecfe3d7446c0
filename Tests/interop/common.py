"""What the interop checks share: the bootstrap list from ops/interop.sh and the check log."""
import os

BOOTSTRAP = os.environ["BOOTSTRAP"]
BROKERS = BOOTSTRAP.split(",")
failures = []


def check(name, ok, detail=""):
    """Print one check's outcome; remember failures for the exit code."""
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)
    if not ok:
        failures.append(name)

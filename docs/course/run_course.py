"""Runs every course notebook against a real Rill cluster with nbclient; a notebook passes when
every cell runs without an error (the cells assert on their results). 5.1 starts and stops its
own clusters; 5.2 and 5.3 get a one-node cluster started here, through $RILL_BOOTSTRAP.

    python docs/course/run_course.py                  # all three
    python docs/course/run_course.py 5.2 --out DIR    # one, keeping the executed notebook in DIR

Needs the `rill` binary ($RILL, PATH, or the repository's release build) and the course's Python
packages (ops/course.sh installs them into .venv-course).
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_notebooks import COURSE, main as check_notebooks  # noqa: E402

from rill_spark.local import LocalCluster  # noqa: E402


def run(path, out_dir, timeout):
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="course-nb-") as cwd:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}})
        error = None
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError) as e:
            error = e
    if out_dir:
        nbformat.write(nb, str(Path(out_dir) / path.name))
    return error


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("only", nargs="*", help="notebooks to run, e.g. 5.2 (default: all)")
    ap.add_argument("--out", help="directory for the executed notebooks")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    args = ap.parse_args()
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    passed = failed = 0
    if check_notebooks(check=True) != 0:
        failed += 1
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    notebooks = [HERE / nb for nb in COURSE.values() if not args.only or any(nb.startswith(o) for o in args.only)]
    with LocalCluster(nodes=1) as cluster:
        os.environ["RILL_BOOTSTRAP"] = cluster.bootstrap   # the kernels inherit it
        for path in notebooks:
            t0 = time.time()
            error = run(path, args.out, args.timeout)
            took = time.time() - t0
            if error is None:
                passed += 1
                print(f"ok   {path.name} ({took:.0f} s)", flush=True)
            else:
                failed += 1
                print(f"FAIL {path.name} ({took:.0f} s)\n{error}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The course notebooks are made from the plain scripts in scripts/, so the two cannot differ.

A script is split into cells at lines starting with `# %%` (`# %% [markdown]` for text, whose
lines lose their leading `# `), the format Jupytext, VS Code and PyCharm also read.

    python docs/course/make_notebooks.py           # writes docs/course/*.ipynb (without outputs)
    python docs/course/make_notebooks.py --check   # fails if a committed notebook differs
"""
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
COURSE = {
    "5_1_deploy.py": "5.1-deploy.ipynb",
    "5_2_producers_consumers.py": "5.2-producers-consumers.ipynb",
    "5_3_spark_streaming.py": "5.3-spark-streaming.ipynb",
}


def cells_of(text):
    cells, kind, lines = [], None, []

    def close():
        body = "\n".join(lines).strip("\n")
        if kind is not None and body:
            if kind == "markdown":
                body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.split("\n"))
                cells.append(nbformat.v4.new_markdown_cell(body))
            else:
                cells.append(nbformat.v4.new_code_cell(body))

    for line in text.split("\n"):
        if line.startswith("# %%"):
            close()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    close()
    return cells


def notebook_of(script):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells_of(script.read_text())
    for i, c in enumerate(nb.cells):   # stable ids, so a notebook made twice is the same file
        c["id"] = f"cell-{i}"
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    return nbformat.writes(nb) + "\n"


def main(check):
    stale = []
    for script, notebook in COURSE.items():
        text = notebook_of(HERE / "scripts" / script)
        path = HERE / notebook
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(notebook)
        else:
            path.write_text(text)
            print("wrote", path.relative_to(HERE.parent.parent))
    if stale:
        print("out of date with scripts/ (run python docs/course/make_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))

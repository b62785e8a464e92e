"""Build the course website into site/: python tools/build_site.py [--out DIR]

The pages: a home page from the README (its opening, the course map and the results),
one page per lesson notebook (notebooks/DNN<n>_*.ipynb and CODE<n>_*.ipynb, in the
order of their numbers) with the outputs of the full run as committed, and
docs/concepts.md. Sphinx with MyST-NB and the book theme renders them (its configuration
is docs/site/); the notebooks are never executed, and nothing is fetched from the
network, at build time or when a page is read. Needs requirements-docs.txt.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path("docs") / "site"
CONCEPTS = Path("docs") / "concepts.md"
LESSON = re.compile(r"^(DNN|CODE)(\d+)_\w+\.ipynb$")
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "/_static/colab-badge.svg"  # from the site's root, docs/site/_static
# The README's sections that make the home page, after its title and opening.
HOME_SECTIONS = ("The course map", "Results")
RESULTS = re.compile(r"<!-- results:start -->.*?<!-- results:end -->", re.S)
LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def lessons(root: Path = ROOT) -> list[Path]:
    """The lesson notebooks, DNN1 ... DNN8 then CODE9, by their numbers."""
    found = [p for p in (root / "notebooks").glob("*.ipynb") if LESSON.match(p.name)]
    return sorted(found, key=lambda p: (int(LESSON.match(p.name)[2]), p.name))


def title(notebook: dict) -> str | None:
    """The text of the notebook's H1 (its first markdown line that starts with '# ')."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            for line in _text(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return None


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _repository(root: Path) -> str:
    """The repository's address, from pyproject.toml's [project.urls]."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'(?m)^Repository\s*=\s*"([^"]+)"', text)[1].rstrip("/")


def _links(text: str, page: Path, root: Path, staged: set[Path], repo: str) -> str:
    """Relative links of a page at ``page`` (repository-relative): those to a staged
    page or file stay, those to anything else point at the file on GitHub."""

    def fix(match):
        target = match[2]
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target, re.I):
            return match[0]
        path, _, fragment = target.partition("#")
        try:
            resolved = Path(*_normalise((page.parent / path).parts))
        except ValueError:  # above the repository: left as it is
            return match[0]
        if resolved in staged:
            return match[0]
        kind = "tree" if (root / resolved).is_dir() else "blob"
        url = f"{repo}/{kind}/main/{resolved.as_posix()}" + (
            f"#{fragment}" if fragment else ""
        )
        return f"{match[1]}{url}{match[3]}"

    return LINK.sub(fix, text)


def _normalise(parts):
    out = []
    for part in parts:
        if part == "..":
            if not out:
                raise ValueError("a link leaves the repository")
            out.pop()
        elif part not in (".", ""):
            out.append(part)
    return out


def _images(text: str, page: Path, root: Path) -> set[Path]:
    """Repository files that the page shows as images (![...](path))."""
    found = set()
    for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
        if not re.match(r"^[a-z][a-z0-9+.-]*:|^/", target, re.I):
            try:
                path = Path(*_normalise((page.parent / target.partition("#")[0]).parts))
            except ValueError:
                continue
            if (root / path).is_file():
                found.add(path)
    return found


def _sections(readme: str) -> tuple[str, dict[str, str]]:
    """The README's opening (title and first paragraphs) and its ## sections by name."""
    parts = re.split(r"(?m)^## ", readme)
    return parts[0], {p.split("\n", 1)[0].strip(): "## " + p for p in parts[1:]}


def home_page(root: Path, pages: list[str]) -> str:
    """The home page: the README's opening, course map and results, and the toctree."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    opening, sections = _sections(readme)
    body = [opening.rstrip() + "\n"]
    for name in HOME_SECTIONS:
        if name in sections:
            body.append(sections[name].rstrip() + "\n")
    if "Results" not in sections and (table := RESULTS.search(readme)):
        body.append("## Results\n\n" + table[0] + "\n")
    toctree = "\n".join(["```{toctree}", ":hidden:", ":maxdepth: 1", "", *pages, "```"])
    text = "\n".join(body)
    text = re.sub(r"<!-- (results|seeds):(start|end) -->\n?", "", text)
    return text + "\n" + toctree + "\n"


def stage(root: Path, dest: Path) -> list[Path]:
    """Lay the site's sources out in ``dest``, as the repository has them; returns the
    lesson notebooks."""
    repo = _repository(root)
    notebooks = lessons(root)
    if not notebooks:
        raise SystemExit("build_site: no lesson notebooks (notebooks/DNN<n>_*.ipynb)")
    shutil.copytree(root / CONFIG, dest, dirs_exist_ok=True)
    pages = [p.relative_to(root) for p in notebooks]
    if (root / CONCEPTS).exists():
        pages.append(CONCEPTS)
    texts = {
        Path("README.md"): home_page(root, [p.with_suffix("").as_posix() for p in pages])
    }
    notebook_of = {}
    for rel in pages:
        if rel.suffix == ".md":
            texts[rel] = (root / rel).read_text(encoding="utf-8")
            continue
        notebook = notebook_of[rel] = json.loads((root / rel).read_text(encoding="utf-8"))
        if title(notebook) is None:
            raise SystemExit(f"build_site: {rel} has no title (a markdown line '# ...')")
        texts[rel] = "\n".join(
            _text(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
        )
    # Images the pages show from the repository travel with them; links to what is not a
    # page of the site point at the repository on GitHub.
    images = set().union(*(_images(text, rel, root) for rel, text in texts.items()))
    staged = set(pages) | images
    for image in images:
        (dest / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / image, dest / image)

    for rel, text in texts.items():
        target = dest / ("index.md" if rel.name == "README.md" else rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel not in notebook_of:
            target.write_text(_links(text, rel, root, staged, repo), encoding="utf-8")
            continue
        notebook = notebook_of[rel]
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                text = _text(cell["source"]).replace(COLAB_BADGE, LOCAL_BADGE)
                cell["source"] = _links(text, rel, root, staged, repo)
        target.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    return notebooks


def build(out: Path, root: Path = ROOT, quiet: bool = True) -> list[Path]:
    """Build the site into ``out`` (replaced whole); returns the lesson notebooks."""
    from sphinx.cmd.build import build_main

    out = out.resolve()
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").exists():
        raise SystemExit(f"build_site: {out} holds something else than a built site")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dnnsteps-site-") as tmp:
        # Sphinx writes into tmp/html, and MyST-NB beside it (tmp/jupyter_execute).
        source, html = Path(tmp) / "source", Path(tmp) / "html"
        notebooks = stage(root, source)
        args = ["-b", "html", "-E", "-d", str(Path(tmp) / "doctrees")]
        args += ["-D", f"nb_execution_cache_path={Path(tmp) / 'jupyter_cache'}"]
        if build_main((["-q"] if quiet else []) + args + [str(source), str(html)]) != 0:
            raise SystemExit("build_site: Sphinx failed")
        shutil.move(html, out)
    # The download button gives the notebook as committed (its badge points at Colab).
    for path in notebooks:
        copy = out / "_sources" / path.relative_to(root)
        if copy.exists():
            shutil.copy2(path, copy)
    return notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="default: site/")
    parser.add_argument("--root", type=Path, default=ROOT, help="default: this repository")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's own progress")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    root = args.root.resolve()
    notebooks = build(args.out, root=root, quiet=not args.verbose)
    took = time.perf_counter() - start
    pages = f"{len(notebooks)} lesson pages, the home page" + (
        " and the concepts page" if (root / CONCEPTS).exists() else ""
    )
    print(f"built {pages} into {args.out} in {took:.1f} s; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sphinx configuration of the course website (tools/build_site.py builds it).

tools/build_site.py lays the pages out in a folder of their own (the home page made
from the README, the notebooks, docs/concepts.md) together with this folder, and runs
Sphinx there. Nothing is fetched at build time or when a page is read: the theme, its
fonts and icons, the Colab badge and (on a page with math) MathJax are all files of the
site itself.
"""

import importlib.util
import shutil
from pathlib import Path

project = "dnnsteps"
html_title = "dnnsteps"

extensions = ["myst_nb", "sphinx.ext.githubpages"]
root_doc = "index"
exclude_patterns = ["**.ipynb_checkpoints"]

# The notebooks are rendered with the outputs of the full run; never executed here.
nb_execution_mode = "off"
nb_merge_streams = True  # one block per training log, not one per printed line
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_favicon = "_static/favicon.svg"
html_last_updated_fmt = None
html_show_sphinx = False
# The outputs (Keras's coloured summaries, white plots) read best on light; the reader's
# switch still offers dark. Without a default, the theme logs an error on a first visit.
html_context = {"default_mode": "light"}
html_theme_options = {
    "repository_url": "https://github.com/dnnsteps/dnnsteps",
    "repository_branch": "main",
    "use_repository_button": True,
    "use_download_button": True,
    "show_toc_level": 2,
    # The home page is its tables: it takes the width of the page contents column.
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
    "home_page_in_toc": True,
    "navigation_with_keys": False,
    # The book theme's own header holds the search: no second, empty navbar above it.
    "navbar_persistent": [],
    "footer_content_items": [],
}

# MathJax from the site itself: sphinx-mathjax-offline ships its files; they are copied
# into the site only when a page has math.
_MATHJAX = importlib.util.find_spec("sphinx-mathjax-offline")
if _MATHJAX is not None:
    mathjax_path = "mathjax/tex-chtml.js"


_math_pages = set()


def _note_math(app, pagename, templatename, context, doctree):
    if context.get("has_maths_elements"):
        _math_pages.add(pagename)


def _copy_mathjax(app, exception):
    if exception is None and _MATHJAX is not None and _math_pages:
        source = Path(_MATHJAX.submodule_search_locations[0]) / "static" / "mathjax"
        shutil.copytree(
            source, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True
        )


def setup(app):
    app.connect("html-page-context", _note_math)
    app.connect("build-finished", _copy_mathjax)

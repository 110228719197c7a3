"""Sphinx extension (local to this book): the learning-path cards of the landing page.

The book grows one notebook at a time, so the landing page must not link to a chapter
that does not exist yet (a broken link fails the ``-W`` build). The ``learning-path``
directive takes one line per chapter::

    :::{learning-path}
    notebooks/00_change_of_variables | Change of variables | Pushforward densities ...
    :::

and renders a grid of sphinx-design cards: a card links to its chapter when that
document is part of the build, and is shown as "in preparation" otherwise. Pages that
use the directive are re-read whenever documents are added or removed.
"""

from __future__ import annotations

import re

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

_NUMBERED = re.compile(r"(?:^|/)(\d+)_[^/]*$")


class LearningPath(SphinxDirective):
    has_content = True

    def run(self):
        env = self.env
        if not hasattr(env, "learning_path_docs"):
            env.learning_path_docs = set()
        env.learning_path_docs.add(env.docname)

        lines = ["::::{grid} 1 1 2 2", ":gutter: 3", ":class-container: learning-path", ""]
        for raw in self.content:
            if not raw.strip():
                continue
            try:
                docname, title, blurb = (part.strip() for part in raw.split("|", 2))
            except ValueError:
                raise self.error(f"learning-path: expected 'docname | title | blurb', got {raw!r}")
            match = _NUMBERED.search(docname)
            label = f"{int(match.group(1)) + 1}. {title}" if match else title
            lines.append(":::{grid-item-card} " + label)
            if docname in env.found_docs:
                lines += [f":link: /{docname}", ":link-type: doc", "", blurb]
            else:
                lines += [":class-card: sd-text-muted", "", f"{blurb} *(in preparation)*"]
            lines += [":::", ""]
        lines.append("::::")

        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=env.docname), self.content_offset, container)
        return container.children


def _outdated(app, env, added, changed, removed):
    if added or removed:
        return sorted(getattr(env, "learning_path_docs", ()))
    return []


def _purge(app, env, docname):
    getattr(env, "learning_path_docs", set()).discard(docname)


def _merge(app, env, docnames, other):
    if not hasattr(env, "learning_path_docs"):
        env.learning_path_docs = set()
    env.learning_path_docs |= getattr(other, "learning_path_docs", set())


def setup(app):
    app.add_directive("learning-path", LearningPath)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

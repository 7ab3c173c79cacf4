"""The README's example messages are what the renderers draw now; `python -m tests.readme_examples
--write` redraws them after a message changes on purpose."""

from __future__ import annotations

import pytest

from tests.readme_examples import EXAMPLES, README, examples_in, rendered


def test_every_example_in_the_readme_is_what_the_renderers_draw() -> None:
    """A message reworded, a button added or removed, shows up as a difference from the README."""
    readme = README.read_text(encoding="utf-8")
    assert readme == rendered(readme), "the README drifted: python -m tests.readme_examples --write"


def test_the_readme_shows_each_example_once() -> None:
    """No example is dropped from the README (it would no longer be checked) or shown twice."""
    names = [match.group(2) for match in examples_in(README.read_text(encoding="utf-8"))]
    assert sorted(names) == sorted(EXAMPLES)


def test_an_example_edited_by_hand_is_redrawn() -> None:
    """The check compares the text: a README example that differs from the renderers by a word is caught."""
    readme = README.read_text(encoding="utf-8")
    edited = readme.replace("[Keep running] [Cancel job]", "[Keep running] [Cancel]", 1)
    assert edited != readme
    assert rendered(edited) == rendered(readme) != edited


def test_an_example_the_module_lacks_is_refused() -> None:
    """A marker naming no example fails loudly rather than leaving stale text unchecked."""
    with pytest.raises(ValueError, match="lacks: no-such-message"):
        rendered("<!-- example: no-such-message -->\nold text\n<!-- /example -->\n")

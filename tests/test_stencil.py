"""Picks rendered once per paper and filled in per reader: exact, or refused up front."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from jinja2 import DictLoader, Environment, TemplateError

from digest.cards import card
from digest.models import Digest, DigestSection, Links, Paper, ScoredPaper
from digest.render import PERSONAL, Renderer
from digest.settings import Settings
from digest.stencil import Markers, Stencil, check

LINKS = Links(
    "https://d.example/m/M",
    "https://d.example/u/U",
    "https://d.example/f/F.rss",
    "",
    "https://d.example/fb/B",
)
PAPER = Paper(
    id="astro-ph/0601001",
    title="100% of %s and %b: <i>markup</i> & more",
    abstract="Percent signs % everywhere. A second sentence.",
    authors=("Zoë %d",),
    categories=("astro-ph",),
    published=date(2026, 1, 1),
    url="https://arxiv.org/abs/astro-ph/0601001",
    source="test",
)


def digest(why: str, profile: str = "stars & <dust>") -> Digest:
    return Digest(
        "ada@example.org",
        date(2026, 11, 20),
        (DigestSection(profile, (ScoredPaper(PAPER, 0.5, why, profile),)),),
        LINKS,
    )


def test_a_filled_stencil_is_what_jinja_renders_with_the_values() -> None:
    env = Environment(
        loader=DictLoader(
            {"p.html": "<b>{{ paper }}</b> {{ why }}|{{ score }}|{{ why }} 100%s {{ up }}\n"}
        ),
        autoescape=True,
    )
    template = env.get_template("p.html")
    markers = Markers()
    stencil = Stencil.render(template, {"paper": "<%b>"}, ("why", "score", "up"), markers)
    values = {"why": "a & <b> %s", "score": "0.50", "up": "https://x/?a=1&b=2"}
    expected = template.render(paper="<%b>", **values).encode()
    filled = stencil.fill([str(env.filters["e"](v)).encode() for v in values.values()])
    assert filled == expected


def test_the_fast_email_matches_a_plain_jinja_render_of_the_pick(settings: Settings) -> None:
    renderer = Renderer(settings)
    rendered = renderer.render(digest("keywords: a % b · like “x”"))
    pick = renderer.env.get_template("email/_pick.html").render(
        **card(PAPER),
        index="1",
        profile="stars & <dust>",
        why="keywords: a % b · like “x”",
        relevance="Strong match",
        up="https://d.example/fb/B/up/stars%20%26%20%3Cdust%3E/astro-ph%2F0601001",
        down="https://d.example/fb/B/down/stars%20%26%20%3Cdust%3E/astro-ph%2F0601001",
    )
    assert pick.encode() in rendered.html
    assert "100% of %s and %b: &lt;i&gt;markup&lt;/i&gt; &amp; more" in rendered.html.decode()
    assert "Strong match — keywords: a % b · like “x”" in rendered.text.decode()


def test_marker_lookalikes_in_data_are_printed_as_data(settings: Settings) -> None:
    sneaky = "\x000\x00 and \x00deadbeef0\x00"
    rendered = Renderer(settings).render(digest(sneaky, profile="p"))
    assert sneaky.encode() in rendered.text
    assert rendered.text.count(b"1. 100% of %s") == 1


def override(tmp_path: Path, settings: Settings, name: str, source: str) -> Settings:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return settings.model_copy(update={"templates_dir": tmp_path})


@pytest.mark.parametrize(
    "source, bad",
    [
        ("{{ why | upper }}\n", "why"),
        ("{% if relevance %}x{% endif %}{{ relevance }}\n", "relevance"),
        ("{{ index ~ '.' }} {{ paper.title }}\n", "index"),
        ('{% include "email/_extra.txt" %}\n', "up"),
    ],
)
def test_operator_picks_that_compute_on_a_readers_value_are_refused(
    tmp_path: Path, settings: Settings, source: str, bad: str
) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "_extra.txt").write_text("{{ up[:10] }}\n")
    custom = override(tmp_path, settings, "email/_pick.txt", source)
    with pytest.raises(TemplateError, match=rf"'{bad}' is a reader's own value") as caught:
        Renderer(custom)
    assert "line 1" in str(caught.value)


def test_operator_picks_that_print_values_and_branch_on_the_paper_work(
    tmp_path: Path, settings: Settings
) -> None:
    custom = override(
        tmp_path,
        settings,
        "email/_pick.txt",
        "{% if paper.categories %}[{{ paper.categories[0] }}] {% endif %}"
        "{{ index }}) {{ paper.title }} -- {{ why }} ({{ relevance }})\n",
    )
    text = Renderer(custom).render(digest("because")).text.decode()
    assert (
        "[astro-ph] 1) 100% of %s and %b: <i>markup</i> & more -- because (Strong match)\n" in text
    )


def test_check_follows_includes_and_refuses_dynamic_ones() -> None:
    env = Environment(
        loader=DictLoader({"a": "{% include name %}", "b": "{% include 'c' %}", "c": "{{ why }}"})
    )
    check(env, "b", PERSONAL)
    with pytest.raises(TemplateError, match="named at run time"):
        check(env, "a", PERSONAL)


def test_a_feed_item_that_does_not_print_its_pick_once_is_refused(
    tmp_path: Path, settings: Settings
) -> None:
    for source in ["<item>{{ paper.title }}</item>\n", "<item>{{ pick }}{{ pick }}</item>\n"]:
        custom = override(tmp_path, settings, "_feed_item.xml", source)
        with pytest.raises(TemplateError, match="exactly once"):
            Renderer(custom)
    custom = override(tmp_path, settings, "_feed_item.xml", "<item>{{ pick | upper }}</item>\n")
    with pytest.raises(TemplateError, match="'pick' is a reader's own value"):
        Renderer(custom)


def test_an_operator_pick_that_prints_the_old_score_is_refused_at_start(
    tmp_path: Path, settings: Settings
) -> None:
    custom = override(
        tmp_path, settings, "email/_pick.txt", "{{ index }}) {{ why }} ({{ score }})\n"
    )
    with pytest.raises(TemplateError, match=r"\{\{ score \}\} is now \{\{ relevance \}\}"):
        Renderer(custom)

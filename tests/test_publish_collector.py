"""The build runs with the cyclic garbage collector paused (build.collector_paused: it would rescan the site model
over and over, 3.4 s of publish's CPU at 1M messages) and gives it back as it found it, a failed build too."""

from __future__ import annotations

import gc

import pytest

from chendian.site.build import build_site, collector_paused
from test_site import make_site_workspace


def test_the_build_pauses_the_collector_and_restores_it_even_when_the_check_refuses(tmp_path):
    ws = make_site_workspace(tmp_path / "ws")
    seen = []

    def check(folder):
        seen.append(gc.isenabled())

    assert gc.isenabled()
    build_site(ws, check=check)
    assert seen == [False] and gc.isenabled()

    def refuse(folder):
        raise RuntimeError("leak")

    with pytest.raises(RuntimeError):
        build_site(ws, check=refuse)
    assert gc.isenabled()


def test_a_caller_that_paused_the_collector_finds_it_paused_after():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # nested (the publish stage around build_site): the outer one gives it back
    finally:
        gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()

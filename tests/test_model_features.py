"""The triage model's feature strings, and posts the shipped model once read backwards."""

import pytest

from scoring import get_scorer
from scoring.base import Post
from scoring.model import EMOTICON_VALENCE, features

NO_NEGATORS: frozenset = frozenset()


def feats(text: str, valence: float = 0.0) -> list[str]:
    return features(text, NO_NEGATORS, {}, 0.0, valence, False, False)


def test_a_run_of_marks_counts_once():
    """Angry posts stack "!!!!"; counted per mark, the marks outvoted the words."""
    assert feats("worst service ever!!!!") == feats("worst service ever!")
    assert feats("why?!?!") == feats("why?")
    assert feats("what ? ? ?").count("w:?") == 1


@pytest.mark.parametrize("text, kind", [
    ("ok :) see you", "emo:smile"), ("haha :-d", "emo:smile"), ("xd", "emo:smile"), ("^^", "emo:smile"),
    ("danke <3", "emo:heart"), ("nope :(", "emo:sad"), ("meh :/", "emo:sad"), ("sure ;-)", "emo:wink"),
    ("lol :p", "emo:tongue"),
])
def test_emoticons_become_one_kind_with_valence(text, kind):
    fs = feats(text)
    assert kind in fs
    assert "t:0" not in fs  # the emoticon's valence moved the valence bin
    assert not any(f in fs for f in ("w:d", "w:p", "w:?", "w:3"))  # not cut into letters


@pytest.mark.parametrize("text", ["at 10:30 today", "see http://x.example/a", "the box dx2", "point 8) done"])
def test_times_links_and_words_are_not_emoticons(text):
    assert not any(f.startswith("emo:") for f in feats(text))


def test_emoticon_valences_have_the_right_sign():
    assert EMOTICON_VALENCE["emo:sad"] < 0 < min(v for k, v in EMOTICON_VALENCE.items() if k != "emo:sad")


@pytest.mark.parametrize("text, lang", [
    ("@QuickNet you guys suck!!! worst provider ever!!!!", "en"),
    ("@ShopRight Will never order from you again! Terrible service!! Ruined my weekend!!", "en"),
    ("@ParcelGo HORRIBLE communication about my delivery!!!! HORRIBLE", "en"),
    ("@Stromfix ihr seid echt das Letzte!!! Seit 3 Wochen keine Antwort!!!", "de"),
])
def test_shouted_complaints_are_negative_and_flagged(text, lang):
    a = get_scorer("triage").score([Post(id="1", text=text, lang=lang)])[0]
    assert a.label == "negative" and a.needs_response, a.reasons


@pytest.mark.parametrize("text, lang", [
    ("Endlich Wochenende :) :)", "de"),
    ("haha das war so gut xD <3", "de"),
])
def test_happy_emoticons_read_positive(text, lang):
    a = get_scorer("triage").score([Post(id="1", text=text, lang=lang)])[0]
    assert a.label == "positive" and not a.needs_response, a.reasons

"""The optional reply generator (respx under the real httpx client, answers shaped like the
OpenAI chat completions API): a draft is used only when it passes the playbook checks."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from repmon import replies
from repmon.config import GeneratorConfig, RepliesConfig
from repmon.generator import GENERATOR_ID, draft, suggest_with_generator

BASE = "http://llm.test:11434/v1"
URL = BASE + "/chat/completions"
KEY = "sk-test-3f9a7c1d-never-log-me"
POST = "You charged me twice for my order, fix it"
GOOD = ("Hi, we're sorry about the double charge, that's worrying. Please send us a DM with the date "
        "and amount and we'll review it with you. We'll get back to you within the hour.")


def enabled(**kw) -> GeneratorConfig:
    return GeneratorConfig(enabled=True, base_url=BASE, model="llama3.1:8b", timeout_seconds=2, **kw)


def completion(content, finish_reason: str = "stop") -> dict:
    return {
        "id": "chatcmpl-9Xq2LwT4", "object": "chat.completion", "created": 1718035200,
        "model": "llama3.1:8b", "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "logprobs": None, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 512, "completion_tokens": 61, "total_tokens": 573},
    }


def run(cfg, *, post=POST, lang="en", category="billing", platform="x", policy=None, author="@priya_s"):
    kw = dict(post_text=post, lang=lang, category=category, platform=platform, author=author,
              brand="Acme", priority="high", policy=policy if policy is not None else {"refund": True})
    return suggest_with_generator(cfg, **kw), replies.suggest(**kw)


@respx.mock
def test_a_good_draft_is_used_and_the_request_is_a_chat_completion():
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion(GOOD)))
    s, _ = run(enabled())
    assert route.call_count == 1
    assert s.template_id == GENERATOR_ID and s.lang == "en" and s.violations == []
    assert s.text == "@priya_s " + GOOD
    body = json.loads(route.calls.last.request.content)
    assert body["model"] == "llama3.1:8b" and body["temperature"] == pytest.approx(0.4) and body["max_tokens"] > 0
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user" and POST in user["content"]
    assert "in English" in system["content"] and "the double charge" in system["content"]
    assert "within the hour" in system["content"] and "You may offer: a refund." in system["content"]
    assert "Authorization" not in route.calls.last.request.headers  # no api_key configured


@respx.mock
def test_the_prompt_follows_the_customers_language_and_the_policy():
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion("x")))
    run(enabled(), post="Me habéis cobrado dos veces", lang="es", policy={"refund": False})
    system = json.loads(route.calls.last.request.content)["messages"][0]["content"]
    assert "in Spanish" in system and "el cobro duplicado" in system and "en menos de una hora" in system
    assert "Never offer or promise a refund" in system and "You may offer" not in system
    for rule in range(1, 13):
        assert f"\n{rule}. " in system


@respx.mock
def test_a_threat_asks_the_model_for_the_boundary_reply_and_its_draft_must_concede_nothing():
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion(
        "Hi, we understand you're upset about the double charge. We'll refund you right away; please DM us "
        "and a team member will reply within the hour.")))
    s, template = run(enabled(), post="Refund me or I'll post everywhere that you are thieves.",
                      policy={"refund": True, "voucher": True})
    system = json.loads(route.calls.last.request.content)["messages"][0]["content"]
    assert "boundary reply" in system and "You may offer" not in system
    assert s == template and s.template_id.startswith("en/abuse/")


BAD_DRAFTS = [  # (lang, post, category, platform, policy, draft, the violation it must be rejected for)
    pytest.param("en", POST, "billing", "x", {"refund": True},
                 "Hi, sorry about the double charge, but it's your fault: you clicked pay twice. DM us and we'll "
                 "reply within the hour.", "blame", id="blames-the-customer"),
    pytest.param("en", "My parcel is two weeks late", "delivery", "x", {},
                 "Hi, we're sorry about the delay with your parcel. Reply here with your order number and home "
                 "address. Then DM us and we'll check it within the hour.", "asks_personal_data_publicly",
                 id="order-number-in-public"),
    pytest.param("es", "Me habéis cobrado dos veces el mismo pedido", "billing", "x", {"refund": True},
                 "Hi, we're sorry about the double charge. Please DM us and we'll review it with you. "
                 "We'll reply within the hour.", "wrong_language", id="wrong-language"),
    pytest.param("en", POST, "billing", "x", {"refund": True},
                 GOOD + " We know how much a surprise charge can throw off your month, and we want to make "
                 "sure it never happens again, so we'll also look at why it happened.", "too_long",
                 id="too-long-for-x"),
    pytest.param("en", POST, "billing", "trustpilot", {"refund": False},
                 "Hi, we're sorry about the double charge. We'll refund you in full: please DM us the date and "
                 "amount and we'll reply within the hour.", "offers_disallowed_refund",
                 id="refund-the-policy-forbids"),
    pytest.param("en", POST, "billing", "x", {"refund": True},
                 "WE ARE SORRY!!! DM US NOW, WE REPLY WITHIN THE HOUR!!!", "shouting", id="shouting"),
    pytest.param("en", "The app has been down all day", "outage", "x", {},
                 "Hi, the app is back up now, have a nice day.", "no_acknowledgement", id="no-acknowledgement"),
    pytest.param("en", "The app has been down all day", "outage", "x", {},
                 "Hi, we're sorry the app has been down. We're on it and expect it back within the hour.",
                 "no_next_step", id="no-next-step"),
]


@respx.mock
@pytest.mark.parametrize("lang,post,category,platform,policy,bad,violation", BAD_DRAFTS)
def test_a_draft_that_breaks_the_playbook_falls_back_to_the_template(lang, post, category, platform, policy,
                                                                      bad, violation, caplog):
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion(bad)))
    with caplog.at_level(logging.INFO, logger="repmon.generator"):
        s, template = run(enabled(), post=post, lang=lang, category=category, platform=platform, policy=policy)
    assert route.call_count == 1
    assert s == template and s.template_id != GENERATOR_ID and s.violations == []
    assert violation in caplog.text


FAILURES = [
    pytest.param(httpx.Response(500, json={"error": {"message": "model crashed", "type": "server_error"}}),
                 "HTTP 500", id="500"),
    pytest.param(httpx.Response(401, json={"error": {"message": "Incorrect API key provided"}}), "HTTP 401",
                 id="401"),
    pytest.param(httpx.ReadTimeout("timed out"), "ReadTimeout", id="timeout"),
    pytest.param(httpx.ConnectError("connection refused"), "ConnectError", id="server-down"),
    pytest.param(httpx.Response(200, text="<html>502 Bad Gateway</html>"), "not a chat completion",
                 id="invalid-json"),
    pytest.param(httpx.Response(200, json={"object": "list", "data": []}), "not a chat completion",
                 id="not-a-completion"),
    pytest.param(httpx.Response(200, json=completion(GOOD[:40], finish_reason="length")), "cut off",
                 id="cut-off-at-max-tokens"),
    pytest.param(httpx.Response(200, json=completion(None)), "empty draft", id="no-content"),
]


@respx.mock
@pytest.mark.parametrize("answer,why", FAILURES)
def test_http_errors_timeouts_and_bad_answers_fall_back_to_the_template(answer, why, caplog):
    respx.post(URL).mock(side_effect=answer) if isinstance(answer, Exception) else \
        respx.post(URL).mock(return_value=answer)
    with caplog.at_level(logging.WARNING, logger="repmon.generator"):
        s, template = run(enabled(api_key=KEY))
    assert s == template and s.template_id.startswith("en/billing/")
    assert why in caplog.text and "llm.test:11434" in caplog.text
    assert KEY not in caplog.text and POST not in caplog.text


def test_the_timeout_comes_from_the_config():
    seen = {}

    def handler(request):
        seen.update(request.extensions["timeout"])
        return httpx.Response(200, json=completion(GOOD))

    with respx.mock:
        respx.post(URL).mock(side_effect=handler)
        cfg = GeneratorConfig(enabled=True, base_url=BASE + "/", model="m", timeout_seconds=7.5)
        assert draft(cfg, post_text=POST, lang="en", category="billing", platform="x", policy={}) == GOOD
    assert seen["read"] == 7.5 and seen["connect"] == 7.5


def test_the_generator_is_off_by_default_and_then_makes_no_http_call():
    assert RepliesConfig().generator.enabled is False
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()  # any request at all
        for cfg in (GeneratorConfig(), RepliesConfig().generator, None):
            s, template = run(cfg)
            assert s == template
        assert not route.called


@respx.mock
def test_the_api_key_is_sent_as_a_bearer_token_and_never_logged(caplog):
    route = respx.post(URL).mock(side_effect=[
        httpx.Response(200, json=completion(GOOD)),
        httpx.Response(200, json=completion("Obviously your fault. DM us, we reply within the hour. Sorry!")),
        httpx.Response(503, json={"error": {"message": f"bad key {KEY}"}}),
    ])
    with caplog.at_level(logging.DEBUG):
        results = [run(enabled(api_key=KEY)) for _ in range(3)]
    assert all(call.request.headers["Authorization"] == f"Bearer {KEY}" for call in route.calls)
    assert [s.template_id == GENERATOR_ID for s, _ in results] == [True, False, False]
    assert caplog.records and KEY not in caplog.text and POST not in caplog.text


@respx.mock
def test_answers_are_tidied_and_the_handle_is_not_doubled():
    thinking = "<think>The customer is upset about a double charge.</think>\n\n\"" + GOOD + "\""
    respx.post(URL).mock(side_effect=[httpx.Response(200, json=completion(thinking)),
                                      httpx.Response(200, json=completion("@priya_s " + GOOD))])
    assert run(enabled())[0].text == "@priya_s " + GOOD
    assert run(enabled())[0].text == "@priya_s " + GOOD


def test_cases_use_the_generator_when_it_is_enabled():
    from types import SimpleNamespace

    from repmon import cases, config

    cfg = config.Config(replies={"generator": {"enabled": True, "base_url": BASE, "model": "m"}},
                        policy={"refund": True})
    case = SimpleNamespace(id=7, lang="en", category="billing", platform="x", priority="high")
    mention = SimpleNamespace(text=POST, author="@priya_s", native_id="1790000000000000000")
    with respx.mock:
        route = respx.post(URL).mock(return_value=httpx.Response(200, json=completion(GOOD)))
        assert cases._suggest(cfg, case, mention, "Acme") == "@priya_s " + GOOD
        assert route.called
    off = config.Config(policy={"refund": True})
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        assert cases._suggest(off, case, mention, "Acme").startswith("@priya_s Hi,")
        assert not route.called

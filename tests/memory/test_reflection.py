from __future__ import annotations

from edge.errors import ModelError
from edge.memory.importance import LLMImportance, cheap_importance
from edge.memory.prompts import loops, plausible
from edge.store.memory import CK_PLAN
from tests.doubles import QueuedLLM, obs

EVENTS = [
    "The user writes pandas code to load sales.csv in data_analysis.py.",
    "The user searches 'pandas read_csv encoding error' in the browser.",
    "The user sees a UnicodeDecodeError traceback when running data_analysis.py.",
    "The user reads the pandas documentation about read_csv encoding.",
    "The user plots monthly sales with matplotlib.",
]


def test_cheap_importance_ranks_errors_and_deadlines_over_mundane() -> None:
    mundane = cheap_importance("observation", "The user scrolls the page.")
    search = cheap_importance("observation", "The user searches 'how to sort a list'.")
    error = cheap_importance("observation", "The build failed with an error.")
    deadline = cheap_importance("observation", "The user's report is due tomorrow, deadline at noon.")
    assert 1 <= mundane < search < error <= 10
    assert deadline > search
    assert cheap_importance("observation", "The user scrolls the page.") == mundane  # deterministic


def test_llm_importance_is_cached(make_stream) -> None:  # type: ignore[no-untyped-def]
    llm = QueuedLLM([{"rating": 7}, {"rating": 2}])
    st = make_stream(llm=llm)
    st.remember(obs("The release build failed.", 1))
    st.remember(obs("The user scrolls.", 2))
    st.remember(obs("The release build failed.", 3))  # same text, another event
    assert st.rescore_importance(10) == 3
    assert len(llm.calls) == 2  # the repeated text came from the cache
    # stored: the mean of the LLM rating and the keyword estimate
    fail, scroll = (
        cheap_importance("observation", "The release build failed."),
        cheap_importance("observation", "The user scrolls."),
    )
    assert sorted(m.importance for m in st.records.latest(3)) == sorted(
        [round((2 + scroll) / 2), round((7 + fail) / 2), round((7 + fail) / 2)]
    )
    assert all(m.importance_src == "llm" for m in st.records.latest(3))
    assert "poignan" in llm.calls[0][1]["content"] or "poignan" in llm.calls[0][0]["content"]


def test_llm_importance_bad_reply_is_model_error(make_stream) -> None:  # type: ignore[no-untyped-def]
    st = make_stream(llm=QueuedLLM([{"score": 3}]))
    try:
        LLMImportance(st.llm, st.records).score("x")
    except ModelError:
        pass
    else:
        raise AssertionError("expected ModelError")


def _reflect_replies(because: list[list[int]], tag: str = "Insight") -> list[object]:
    return [
        {"questions": ["What is the user building?", "What problem does the user have?"]},
        {
            "insights": [
                {"insight": f"{tag} {i}: the user analyses sales data with pandas", "because": b}
                for i, b in enumerate(because)
            ]
        },
        {"working_on": "Analysing sales data in pandas", "next": ["fix the encoding", "plot sales"]},
    ]


def test_reflection_stores_insights_with_citations_and_plan(make_stream) -> None:  # type: ignore[no-untyped-def]
    llm = QueuedLLM(_reflect_replies([[1, 2], [99], []]))
    st = make_stream(llm=llm, reflection_threshold=5, rescore_batch=0)
    for i, e in enumerate(EVENTS):
        st.remember(obs(e, i))
    assert st.reflection_due()
    ref = st.reflect()
    assert ref.questions[:2] == ["What is the user building?", "What problem does the user have?"]
    assert len(ref.questions) == 3 and len(ref.insights) == 3  # the third question is a generic one
    obs_ids = {m.id for m in st.records.latest(10, kinds=["observation"])}
    for ins in ref.insights:
        stored = st.records.get([ins.id])[ins.id]
        assert stored.kind == "reflection" and stored.cites, "every insight cites records"
        assert set(stored.cites) <= obs_ids
    # citation numbers 1 and 2 map to the first two statements shown to the model
    prompt = llm.calls[1][1]["content"]
    first_two = [line.split(". ", 1)[1] for line in prompt.splitlines() if line[:2] in ("1.", "2.")]
    texts = {m.id: m.text for m in st.records.latest(10)}
    assert sorted(texts[c][:200] for c in ref.insights[0].cites) == sorted(first_two)
    # invalid / empty citations fall back to the most similar statements (up to 3)
    assert 1 <= len(ref.insights[1].cites) <= 3
    # the plan cites the reflections and becomes the current plan
    assert ref.plan is not None and ref.plan.kind == "plan"
    assert set(ref.plan.cites) == {i.id for i in ref.insights}
    assert st.store.get_checkpoint(CK_PLAN) == ref.plan.id
    assert "Next: fix the encoding; plot sales." in ref.plan.text
    assert not st.reflection_due()


def test_reflections_may_cite_reflections(make_stream) -> None:  # type: ignore[no-untyped-def]
    llm = QueuedLLM(_reflect_replies([[1]]) + _reflect_replies([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], "Later"))
    st = make_stream(llm=llm, reflection_threshold=5, rescore_batch=0)
    for i, e in enumerate(EVENTS):
        st.remember(obs(e, i))
    first = st.reflect()
    for i, e in enumerate(EVENTS):
        st.remember(obs(e + " Again.", 10 + i))
    second = st.reflect()
    cited = st.records.get(second.insights[0].cites)
    assert {m.kind for m in cited.values()} >= {"reflection"}
    assert first.insights[0].id in cited


def test_reflection_runs_inside_remember_when_due_and_failure_does_not_block(make_stream) -> None:  # type: ignore[no-untyped-def]
    class Failing(QueuedLLM):
        def chat_json(self, messages, schema, max_tokens=None):  # type: ignore[no-untyped-def]
            raise ModelError("boom", "")

    st = make_stream(llm=Failing(), reflection_threshold=5, rescore_batch=0, reflect_in_remember=True)
    for i, e in enumerate(EVENTS):
        st.remember(obs(e, i))  # never raises
    assert st.records.count("observation") == 5 and st.records.count("reflection") == 0
    assert not st.reflection_due()  # the failed round was skipped


def test_small_model_junk_is_not_stored(make_stream) -> None:  # type: ignore[no-untyped-def]
    # What SmolLM2-135M actually answered on a replayed trace.
    llm = QueuedLLM(
        [
            {"questions": ["3.1.1.1.1.1.1.1.1.1.1.1", "1. The assistant proposed to the user"]},
            {
                "insights": [
                    {"insight": "1. The assistant proposed to the user", "because": [1]},
                    {"insight": "2. The user fixes an encoding error in pandas", "because": [2]},
                ]
            },
            {"working_on": "Insights about the user", "next": ["Insights about the user"]},
        ]
    )
    st = make_stream(llm=llm, rescore_batch=0)
    for i, e in enumerate(EVENTS):
        st.remember(obs(e, i))
    ref = st.reflect()
    assert ref.questions == [
        "What is the user working on?",
        "What problems does the user run into?",
        "What does the user look for?",
    ]
    assert [m.text for m in ref.insights] == ["The user fixes an encoding error in pandas"]
    assert ref.plan is None and st.current_plan() is None


def test_looping_output_is_not_plausible() -> None:
    # the 135M default's plan after replaying the shared traces
    junk = (
        "The user is working on a research paper on how to write a research paper "
        "on how to write a research paper"
    )
    assert loops(junk) and not plausible(junk)
    fine = "The user writes a Ruby script that capitalises names and searches how to split strings."
    assert not loops(fine) and plausible(fine)
    # one repeat is ordinary English, three is a loop
    assert not loops("open the file, edit the file, save it")
    assert loops("fix the bug, fix the bug, fix the bug")

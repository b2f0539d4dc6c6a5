"""Step params models: the registry's table, and defaults that agree with the step classes."""

from __future__ import annotations

import dataclasses

import pytest

from ragft.rag.citations import CitedGenerate, CitedGenerateParams
from ragft.rag.examples import ExampleQueries, ExampleQueriesParams
from ragft.rag.graph.retrieve import GraphRetrieve
from ragft.rag.graph.step import GraphParams
from ragft.rag.grounding import GroundedGenerate, GroundedGenerateParams
from ragft.rag.hypothetical import HypotheticalQuestions, HypotheticalQuestionsParams
from ragft.rag.multihop import IterativeParams, IterativeRetrieve
from ragft.rag.params import RETRIEVAL_FIELDS, RetrievalOverrides, StepParams
from ragft.rag.post import MMR, Compress, CompressParams, MMRParams
from ragft.rag.query import (
    Decompose, DecomposeParams, HyDE, HydeParams, MultiQuery, MultiQueryParams, QueryRewrite, RewriteParams,
)
from ragft.rag.registry import all_steps, step_params
from ragft.rag.structure import ParentChild, ParentChildParams, SentenceWindow, SentenceWindowParams
from ragft.errors import ConfigError

PAIRS = [(QueryRewrite, RewriteParams), (MultiQuery, MultiQueryParams), (HyDE, HydeParams),
         (Decompose, DecomposeParams), (ExampleQueries, ExampleQueriesParams),
         (HypotheticalQuestions, HypotheticalQuestionsParams), (GroundedGenerate, GroundedGenerateParams),
         (IterativeRetrieve, IterativeParams), (CitedGenerate, CitedGenerateParams), (MMR, MMRParams),
         (Compress, CompressParams), (SentenceWindow, SentenceWindowParams), (ParentChild, ParentChildParams),
         (GraphRetrieve, GraphParams)]


@pytest.mark.parametrize("step_class, params", PAIRS, ids=lambda x: x.__name__)
def test_params_defaults_agree_with_the_step_class(step_class, params):
    """A step built from Python and one built from YAML behave the same (None = from the context)."""
    fields = {f.name: f.default for f in dataclasses.fields(step_class) if f.default is not dataclasses.MISSING}
    for name, info in params.model_fields.items():
        if name in fields and info.default is not None:
            assert fields[name] == info.default, f"{step_class.__name__}.{name}"


def test_every_step_has_a_strict_params_model():
    steps = all_steps()
    assert {"retrieve", "generate", "rerank", "mmr", "iterative", "cited_generate", "graph"} <= set(steps)
    for name, step in steps.items():
        assert issubclass(step.params, StepParams), name
        assert callable(step.build), name
    assert set(RetrievalOverrides.model_fields) == RETRIEVAL_FIELDS


def test_step_params_fill_defaults_and_name_bad_fields():
    assert step_params("mmr", {}).lambda_ == 0.7
    assert step_params("retrieve", {"top_k": 2}).top_k == 2
    with pytest.raises(ConfigError, match=r"pipeline step 'mmr' params: lambda_: Input should be less than or "
                                          r"equal to 1"):
        step_params("mmr", {"lambda_": 2})
    with pytest.raises(ConfigError, match=r"'cited_generate' params: strip_citations: Input should be a valid "
                                          r"boolean"):
        step_params("cited_generate", {"strip_citations": "yes"})
    with pytest.raises(ConfigError, match=r"'retrieve' params: mode: Input should be 'dense', 'bm25' or 'hybrid'"):
        step_params("retrieve", {"mode": "sparse"})
    with pytest.raises(ConfigError, match=r"'generate' params: temperature: Extra inputs are not permitted"):
        step_params("generate", {"temperature": 0.1})

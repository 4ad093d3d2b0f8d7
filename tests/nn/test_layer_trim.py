"""Layer trimming (``RelGNN.forward(..., hops=...)``): on the sampler's hop-ordered trees each layer
computes only the nodes a later layer reads, and the seeds' outputs and the gradients are those of
the untrimmed model, on random graphs, for every number of layers and both convolutions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relgraph.graph.temporal_graph import TemporalGraph
from relgraph.nn import RelGNN, TableInputs, TableSpec, TaskHead
from relgraph.nn.model import layer_keeps
from relgraph.sampling import TemporalSampler

TYPES = ["a", "b", "c"]


@st.composite
def sampled_batches(draw: st.DrawFn):
    """A random graph of 2-3 types (one static), seeds of type "a", and a sampled batch of 1-3 hops."""
    types = TYPES[: draw(st.integers(2, 3))]
    sizes = {nt: draw(st.integers(1, 6)) for nt in types}
    times = {nt: None if nt == types[-1] else np.array(draw(st.lists(st.integers(0, 9), min_size=sizes[nt],
                                                                      max_size=sizes[nt])), dtype=np.int64)
             for nt in types}
    edges = {}
    for i in range(draw(st.integers(1, 4))):
        src, dst = draw(st.sampled_from(types)), draw(st.sampled_from(types))
        n = draw(st.integers(0, 15))
        rows = draw(st.lists(st.integers(0, sizes[src] - 1), min_size=n, max_size=n))
        cols = draw(st.lists(st.integers(0, sizes[dst] - 1), min_size=n, max_size=n))
        edges[(src, f"r{i}", dst)] = np.array([rows, cols], dtype=np.int64).reshape(2, -1)
    graph = TemporalGraph(num_nodes=sizes, node_time=times, edge_index=edges)
    hops = draw(st.integers(1, 3))
    seeds = np.array(draw(st.lists(st.integers(0, sizes["a"] - 1), min_size=1, max_size=5)), dtype=np.int64)
    seed_times = np.full(len(seeds), 10, dtype=np.int64)
    sampler = TemporalSampler(graph, [draw(st.integers(1, 3))] * hops, strategy="recent")
    return graph, sampler.sample("a", seeds, seed_times, rng=0), hops


def _forward(model: RelGNN, batch, features: dict[str, torch.Tensor], hops) -> torch.Tensor:
    inputs = {nt: TableInputs(numerical=features[nt][batch[nt].n_id]) for nt in batch.node_types}
    rel_time = {nt: batch[nt].rel_time.double() for nt in batch.node_types}
    seed_time = {nt: batch[nt].seed_time.double() for nt in batch.node_types}
    edge_index = {et: batch[et].edge_index for et in batch.edge_types}
    return model(inputs, rel_time, seed_time, edge_index, "a", int(batch.batch_size), None, hops)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=sampled_batches(), conv=st.sampled_from(["sage", "attention"]))
def test_trimmed_layers_give_the_seeds_the_same_outputs_and_gradients(case, conv: str) -> None:
    graph, batch, num_layers = case
    torch.manual_seed(0)
    specs = {nt: TableSpec(num_numerical=2) for nt in graph.node_types}
    model = RelGNN(specs, graph.edge_types, TaskHead("regression", 8), hidden=8, num_layers=num_layers,
                   conv=conv, heads=2, dropout=0.0)
    features = {nt: torch.randn(graph.num_nodes[nt], 2) for nt in graph.node_types}
    hops = (batch.num_sampled_nodes_dict, batch.num_sampled_edges_dict)
    assert all(k is not None for k in layer_keeps(hops, num_layers))
    grads = []
    outputs = []
    for with_hops in (None, hops):
        model.zero_grad()
        out = _forward(model, batch, features, with_hops)
        out.sum().backward()
        outputs.append(out.detach())
        grads.append({n: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for n, p in model.named_parameters()})
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-5, rtol=1e-4, msg=name)


def test_trimming_skips_what_no_later_layer_reads() -> None:
    """Two layers, seeds -> events -> static rows: the first layer updates seeds and events, the last
    only the seeds; batches whose hops do not match the layers are computed whole."""
    nodes = {"driver": [4, 0, 9], "result": [0, 9, 0], "race": [0, 0, 9]}
    edges = {("result", "driverId", "driver"): [9, 0], ("race", "rev", "result"): [0, 9],
             ("driver", "rev", "result"): [0, 9]}
    first, last = layer_keeps((nodes, edges), 2)
    assert first.nodes == {"driver": 4, "result": 9, "race": 0}
    assert first.edges == {et: 9 for et in edges}
    assert last.nodes == {"driver": 4, "result": 0, "race": 0}
    assert last.edges[("result", "driverId", "driver")] == 9 and last.edges[("race", "rev", "result")] == 0
    assert layer_keeps((nodes, edges), 3) == [None, None, None]
    assert layer_keeps(None, 2) == [None, None]


@pytest.mark.parametrize("conv", ["sage", "attention"])
def test_trimmed_model_trains_to_the_same_loss(conv: str) -> None:
    """A few optimiser steps on one batch with and without trimming end at the same loss (float rounding)."""
    rng = np.random.default_rng(0)
    sizes = {"a": 30, "b": 200, "c": 5}
    graph = TemporalGraph(
        num_nodes=sizes,
        node_time={"a": np.zeros(30, dtype=np.int64), "b": rng.integers(0, 9, 200), "c": None},
        edge_index={("b", "a_id", "a"): np.stack([np.arange(200), rng.integers(0, 30, 200)]),
                    ("a", "rev", "b"): np.stack([rng.integers(0, 30, 200), np.arange(200)]),
                    ("c", "rev_c", "b"): np.stack([rng.integers(0, 5, 200), np.arange(200)])},
    )
    batch = TemporalSampler(graph, [8, 2], strategy="recent").sample("a", np.arange(30), np.full(30, 10), rng=0)
    features = {nt: torch.randn(n, 2, generator=torch.Generator().manual_seed(1)) for nt, n in sizes.items()}
    target = torch.randn(30, generator=torch.Generator().manual_seed(2))
    losses = []
    for hops in (None, (batch.num_sampled_nodes_dict, batch.num_sampled_edges_dict)):
        torch.manual_seed(0)
        model = RelGNN({nt: TableSpec(num_numerical=2) for nt in sizes}, graph.edge_types, TaskHead("regression", 16),
                       hidden=16, conv=conv, heads=2, dropout=0.0)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(20):
            opt.zero_grad()
            loss = model.head.loss(_forward(model, batch, features, hops), target)
            loss.backward()
            opt.step()
        losses.append(loss.item())
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)

"""nn modules on hand-built batches shaped like the sampler's output (see ARCHITECTURE.md)."""

from __future__ import annotations

import math

import pytest
import torch

from relgraph.nn import RelGNN, TableEncoder, TableInputs, TableSpec, TaskHead
from relgraph.nn.encoders import RelativeTimeEncoder
from relgraph.nn.message_passing import HeteroSAGELayer, HeteroTimeAttentionLayer, scatter_softmax

DAY = 86_400.0
FWD = ("orders", "customer_id", "customers")
REV = ("customers", "rev_customer_id", "orders")


def _specs() -> dict[str, TableSpec]:
    return {
        "customers": TableSpec(categorical_cardinality=[5], num_timestamp=1),
        "orders": TableSpec(num_numerical=1, text_dim=4, multicategorical_dim=3),
    }


def _batch(order_amounts: list[float], order_customer: list[int], order_age_days: list[float], n_customers: int):
    """A batch: customers 0..n-1 are seeds at t=1000 days; each order belongs to one customer."""
    seed_t = 1000 * DAY
    n_orders = len(order_amounts)
    inputs = {
        "customers": TableInputs(
            categorical=torch.tensor([[1 + i % 3] for i in range(n_customers)]),
            timestamp=torch.tensor([[seed_t - 400 * DAY]] * n_customers, dtype=torch.float64),
        ),
        "orders": TableInputs(
            numerical=torch.tensor([[(a - 10.0) / 5.0] for a in order_amounts]),
            numerical_missing=torch.zeros(n_orders, 1),
            text=torch.ones(n_orders, 4),
            multicategorical=torch.tensor([[1.0, 0.0, 1.0]] * n_orders),
        ),
    }
    rel_time = {
        "customers": torch.zeros(n_customers, dtype=torch.float64),
        "orders": torch.tensor(order_age_days, dtype=torch.float64) * DAY,
    }
    seed_time = {
        "customers": torch.full((n_customers,), seed_t, dtype=torch.float64),
        "orders": torch.full((n_orders,), seed_t, dtype=torch.float64),
    }
    src = torch.arange(n_orders)
    dst = torch.tensor(order_customer)
    edge_index = {FWD: torch.stack([src, dst]), REV: torch.stack([dst, src])}
    return inputs, rel_time, seed_time, edge_index


def test_encoder_unseen_codes_share_a_bucket_and_missing_is_flagged() -> None:
    enc = TableEncoder(TableSpec(num_numerical=1, categorical_cardinality=[4]), hidden=8)
    seed = torch.zeros(4, dtype=torch.float64)
    out = enc(
        TableInputs(
            numerical=torch.zeros(4, 1),
            numerical_missing=torch.tensor([[0.0], [0.0], [0.0], [1.0]]),
            categorical=torch.tensor([[3], [7], [2], [3]]),
        ),
        seed,
    )
    assert torch.allclose(out[0], out[1])  # 3 = k + 1 is the unseen bucket; 7 falls into it too
    assert not torch.allclose(out[0], out[2])
    assert not torch.allclose(out[0], out[3])  # same value, but flagged missing


def test_unseen_dropout_only_in_training() -> None:
    enc = TableEncoder(TableSpec(categorical_cardinality=[4]), hidden=8)
    enc.unseen_dropout = 1.0
    codes = TableInputs(categorical=torch.tensor([[1], [3]]))
    seed = torch.zeros(2, dtype=torch.float64)
    enc.train()
    trained = enc(codes, seed)
    assert torch.allclose(trained[0], trained[1])  # every known code replaced by the unseen bucket
    enc.eval()
    evaluated = enc(codes, seed)
    assert not torch.allclose(evaluated[0], evaluated[1])


def test_text_dropout_only_on_tables_dated_by_seen_from() -> None:
    """Text dropout (``unseen_static``) teaches what the zeroed text of an unseen static row means, so
    it applies only to inputs that carry ``seen_from``; a timed table's text is never dropped."""
    enc = TableEncoder(TableSpec(text_dim=4), hidden=8)
    enc.text_dropout = 1.0
    text = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    dated = TableInputs(text=text, seen_from=torch.zeros(2, dtype=torch.int64))
    seed = torch.zeros(2, dtype=torch.float64)
    enc.train()
    timed_out = enc(TableInputs(text=text), seed)
    assert not torch.allclose(timed_out[0], timed_out[1])  # no seen_from: the text is kept
    dated_out = enc(dated, seed)
    assert torch.allclose(dated_out[0], dated_out[1])  # every row's text dropped
    enc.eval()
    evaluated = enc(dated, seed)
    assert not torch.allclose(evaluated[0], evaluated[1])


def test_encoder_timestamp_age_is_relative_to_seed() -> None:
    enc = TableEncoder(TableSpec(num_timestamp=1), hidden=8)
    ts = torch.tensor([[100 * DAY], [100 * DAY]], dtype=torch.float64)
    same_seed = enc(TableInputs(timestamp=ts), torch.tensor([200 * DAY, 200 * DAY], dtype=torch.float64))
    other_seed = enc(TableInputs(timestamp=ts), torch.tensor([200 * DAY, 900 * DAY], dtype=torch.float64))
    assert torch.allclose(same_seed[0], same_seed[1])
    assert not torch.allclose(other_seed[0], other_seed[1])


def test_relative_time_features_distinguish_ages() -> None:
    enc = RelativeTimeEncoder(hidden=8)
    feats = enc.features(torch.tensor([0.0, DAY, 30 * DAY, 3000 * DAY], dtype=torch.float64))
    assert feats.shape == (4, enc.linear.in_features)
    assert torch.unique(feats, dim=0).shape[0] == 4
    assert feats[0, -1] == 1.0 and feats[1, -1] == 0.0  # "is now" flag


def test_scatter_softmax_normalises_per_destination() -> None:
    scores = torch.randn(6, 2)
    index = torch.tensor([0, 0, 1, 1, 1, 3])
    alpha = scatter_softmax(scores, index, 4)
    sums = torch.zeros(4, 2).index_add_(0, index, alpha)
    assert torch.allclose(sums[[0, 1, 3]], torch.ones(3, 2))
    assert torch.allclose(sums[2], torch.zeros(2))


@pytest.mark.parametrize("layer_cls", [HeteroSAGELayer, HeteroTimeAttentionLayer])
def test_messages_only_flow_along_edges(layer_cls: type) -> None:
    torch.manual_seed(0)
    node_types, edge_types = ["customers", "orders"], [FWD, REV]
    if layer_cls is HeteroSAGELayer:
        layer = layer_cls(node_types, edge_types, 8)
    else:
        layer = layer_cls(node_types, edge_types, 8, time_features=3, heads=2)
    x = {"customers": torch.randn(2, 8), "orders": torch.randn(3, 8)}
    ei = {FWD: torch.tensor([[0, 1, 2], [0, 0, 1]])}
    tf = {"customers": torch.zeros(2, 3), "orders": torch.randn(3, 3)}
    args = () if layer_cls is HeteroSAGELayer else (tf,)
    base = layer(x, ei, *args)
    x2 = {"customers": x["customers"], "orders": x["orders"].clone()}
    x2["orders"][2] += 5.0  # order 2 only sends to customer 1
    moved = layer(x2, ei, *args)
    assert torch.allclose(base["customers"][0], moved["customers"][0])
    assert not torch.allclose(base["customers"][1], moved["customers"][1])


def test_regression_head_clamps_to_training_range() -> None:
    head = TaskHead("regression", 4, label_mean=5.0, label_std=2.0, label_min=1.0, label_max=9.0)
    out = head.predict(torch.tensor([-100.0, 0.0, 100.0]))
    assert out.tolist() == [1.0, 5.0, 9.0]


def test_multiclass_head_gives_probabilities() -> None:
    head = TaskHead("multiclass", 4, num_classes=3, class_weight=[1.0, 2.0, 1.0])
    raw = head(torch.randn(5, 4))
    assert raw.shape == (5, 3)
    assert torch.allclose(head.predict(raw).sum(1), torch.ones(5))
    assert head.loss(raw, torch.tensor([0, 1, 2, 0, 1])).item() > 0


@pytest.mark.parametrize("conv", ["sage", "attention"])
def test_gnn_learns_a_recency_rule(conv: str) -> None:
    """Label = amount of the customer's most recent order > 10: needs edges and relative time."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    n = 64
    amounts = (torch.rand(n * 3, generator=gen) * 20).tolist()
    owner = [i // 3 for i in range(n * 3)]
    ages = [float(1 + (i % 3) * 50) for i in range(n * 3)]  # the first order of each customer is the newest
    label = torch.tensor([amounts[3 * i] > 10 for i in range(n)], dtype=torch.float32)
    batch = _batch(amounts, owner, ages, n)
    model = RelGNN(_specs(), [FWD, REV], TaskHead("binary", 32), hidden=32, num_layers=2, conv=conv, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = model.head.loss(model(*batch, "customers", n), label)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    prob = model.head.predict(model(*batch, "customers", n))
    acc = ((prob > 0.5).float() == label).float().mean().item()
    assert loss.item() < 0.5 * first
    assert acc > 0.9


def test_recent_history_means_over_the_latest_neighbours() -> None:
    from relgraph.nn.history import RecentHistory

    hist = RecentHistory([1, 2], {FWD: 1}, hidden=8)
    # Seed 0 has orders with values 1, 2, 3 at ages 5, 1, 9 days; seed 1 has none.
    inputs = {"orders": TableInputs(numerical=torch.tensor([[1.0], [2.0], [3.0]]), numerical_missing=torch.zeros(3, 1))}
    rel_time = {"orders": torch.tensor([5 * DAY, 1 * DAY, 9 * DAY], dtype=torch.float64)}
    edge_index = {FWD: torch.tensor([[0, 1, 2], [0, 0, 0]])}
    out = hist.summary(inputs, rel_time, edge_index, batch_size=2)
    assert out.shape == (2, hist.out_dim)
    # Per window: [value, missing flag, log-age]; then log(1 + count).
    assert out[0, 0].item() == 2.0  # k=1: the newest order (1 day old)
    assert out[0, 3].item() == 1.5  # k=2: orders 1 and 5 days old
    assert abs(out[0, 6].item() - math.log(4.0)) < 1e-6
    assert torch.all(out[1] == 0)


def test_recent_history_extremes_and_true_length() -> None:
    from relgraph.nn.history import RecentHistory

    hist = RecentHistory([1, 2], {FWD: 1}, hidden=8, extremes=True)
    # Seed 0 has orders with values 1, 2, 3 at ages 5, 1, 9 days; seed 1 has none.
    inputs = {"orders": TableInputs(numerical=torch.tensor([[1.0], [2.0], [3.0]]), numerical_missing=torch.zeros(3, 1))}
    rel_time = {"orders": torch.tensor([5 * DAY, 1 * DAY, 9 * DAY], dtype=torch.float64)}
    edge_index = {FWD: torch.tensor([[0, 1, 2], [0, 0, 0]])}
    out = hist.summary(inputs, rel_time, edge_index, batch_size=2)
    assert out.shape == (2, hist.out_dim) == (2, 2 * 3 + 2 + 1)
    # Windows 1 and 2 (means), then min and max over the latest 2 (values 2 and 1), then the count.
    assert out[0, 6:8].tolist() == [1.0, 2.0]
    assert abs(out[0, 8].item() - math.log(4.0)) < 1e-6
    assert torch.all(out[1] == 0)
    # The eligible history (20 orders, of which 3 were sampled) is the count, not the sample.
    true = hist.summary(inputs, rel_time, edge_index, batch_size=2, degree={FWD: torch.tensor([20, 0])})
    assert abs(true[0, 8].item() - math.log(21.0)) < 1e-6
    assert torch.equal(true[:, :8], out[:, :8])


@pytest.mark.parametrize("layer_class", [HeteroSAGELayer, HeteroTimeAttentionLayer])
def test_degree_term_uses_the_true_degree_when_given(layer_class) -> None:
    torch.manual_seed(0)
    args = (["orders", "customers"], [FWD], 8) if layer_class is HeteroSAGELayer else (["orders", "customers"], [FWD], 8, 3)
    layer = layer_class(*args).eval()
    x = {"orders": torch.randn(3, 8), "customers": torch.randn(2, 8)}
    edge_index = {FWD: torch.tensor([[0, 1, 2], [0, 0, 1]])}
    extra = () if layer_class is HeteroSAGELayer else ({"orders": torch.randn(3, 3), "customers": torch.randn(2, 3)},)
    sampled = layer(x, edge_index, *extra)
    same = layer(x, edge_index, *extra, degree={FWD: torch.tensor([2, 1])})
    torch.testing.assert_close(same["customers"], sampled["customers"])
    longer = layer(x, edge_index, *extra, degree={FWD: torch.tensor([40, 1])})
    assert not torch.allclose(longer["customers"][0], sampled["customers"][0])
    torch.testing.assert_close(longer["customers"][1], sampled["customers"][1])

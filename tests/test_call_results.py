"""Results come back from the runtime with the dtype and values the model computes, whatever the type."""

import numpy as np
import pytest
import torch

import sparsile


class Mixed(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        return x > 0, (x * 2).to(torch.bfloat16), (x - 1).to(torch.float16), (x * 10).to(torch.int32), x + 1


@pytest.fixture(scope="module")
def compiled():
    x = torch.randn(3, 5)
    model = sparsile.compile(Mixed().eval(), (x,), cache=False)
    yield model
    model.release()


def test_torch_arguments_give_torch_results_of_every_dtype(compiled):
    x = torch.randn(3, 5)
    got = compiled(x)
    expected = Mixed()(x)
    assert [g.dtype for g in got] == [e.dtype for e in expected]
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=0)


def test_numpy_arguments_give_numpy_results_that_the_next_call_does_not_overwrite(compiled):
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    first = compiled(x)
    assert [a.dtype.name for a in first] == ["bool", "bfloat16", "float16", "int32", "float32"]
    kept = [a.copy() for a in first]
    compiled(-x)
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first[0], x > 0)
    np.testing.assert_array_equal(first[4], x + 1)

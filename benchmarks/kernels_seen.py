"""Which of the CPU path's kernels ran, observed from outside the library (no counters in
it): the tests and the GPU proof use it to show which path a model took.

The fused oneDNN ops (1x1 convolutions with GELU or the residual add, bf16 GEMM with GELU)
are seen as they are dispatched (a ``TorchDispatchMode`` sees every op called); the
hand-written backward passes as the autograd engine calls the ``backward`` of their
``autograd.Function``. Both are exact and cost microseconds, unlike parsing a profiler
trace (half a second per training step of even a tiny model).
"""
from __future__ import annotations

from collections import Counter
from contextlib import ExitStack, contextmanager
from typing import Callable

from torch.utils._python_dispatch import TorchDispatchMode

from convnext_backbone.models import cpu_kernels

#: The hand-written backward passes, by the autograd Function they belong to.
_BACKWARD_PASSES = {cpu_kernels._PointwiseConv: 'pointwise_backward',
                    cpu_kernels._DepthwiseConv: 'depthwise_backward'}
#: oneDNN's fused 1x1 convolution: the unary overload with GELU, the binary one adding the
#: residual.
_FUSED_OVERLOADS = {'default': 'fused_conv_gelu', 'binary': 'fused_conv_add'}


class _FusedOps(TorchDispatchMode):
    def __init__(self, seen: Counter):
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == 'mkldnn':
            name = func.overloadpacket.__name__
            if name == '_convolution_pointwise':
                self.seen[_FUSED_OVERLOADS.get(func._overloadname, str(func))] += 1
            elif name == '_linear_pointwise':
                self.seen['fused_linear_gelu'] += 1
        return func(*args, **(kwargs or {}))


@contextmanager
def _counting_backward(function: type, name: str, seen: Counter):
    original = function.backward  # autograd looks it up on the class at each call

    def backward(ctx, *grads):
        seen[name] += 1
        return original(ctx, *grads)

    function.backward = staticmethod(backward)
    try:
        yield
    finally:
        function.backward = staticmethod(original)


def kernels_seen(run: Callable[[], object]) -> Counter:
    """Call ``run()``; count each CPU-path kernel it ran (backward passes count only if
    ``run`` calls ``backward``). An empty result: the portable path ran."""
    cpu_kernels.fusion_works()  # their one-time checks call the fused ops: not the model's
    cpu_kernels.linear_gelu_works()
    seen: Counter = Counter()
    with ExitStack() as stack:
        for function, name in _BACKWARD_PASSES.items():
            stack.enter_context(_counting_backward(function, name, seen))
        stack.enter_context(_FusedOps(seen))
        run()
    return seen

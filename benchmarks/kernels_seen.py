"""Which of the CPU path's kernels ran, read from torch's profiler (not from counters in
the library): the tests and the GPU proof use it to show which path a model took."""
from __future__ import annotations

from collections import Counter
from typing import Callable

import torch

from convnext_backbone.models import cpu_kernels

#: The CPU path's kernels as the profiler names them: the autograd nodes of the hand-written
#: backward passes, and oneDNN's fused 1x1 convolution (10 inputs with GELU, 13 with the
#: residual add).
_BACKWARD_NODES = {'_PointwiseConvBackward': 'pointwise_backward',
                   '_DepthwiseConvBackward': 'depthwise_backward'}
_FUSED_OP = 'mkldnn::_convolution_pointwise'
_FUSED_BY_INPUTS = {10: 'fused_conv_gelu', 13: 'fused_conv_add'}


def kernels_seen(run: Callable[[], object]) -> Counter:
    """Call ``run()`` under the profiler; count each CPU-path kernel it ran (backward passes
    count only if ``run`` calls ``backward``). An empty result: the portable path ran."""
    cpu_kernels.fusion_works()  # its one-time check calls the fused ops: not the model's
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, record_shapes=True) as prof:
        run()
    seen: Counter = Counter()
    for event in prof.events():
        if event.name in _BACKWARD_NODES:
            seen[_BACKWARD_NODES[event.name]] += 1
        elif event.name == _FUSED_OP:
            seen[_FUSED_BY_INPUTS.get(len(event.input_shapes), _FUSED_OP)] += 1
    return seen

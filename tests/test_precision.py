"""Mixed precision computes the official math: the GPU path, proven on the CPU.

The outside truth is the official formulation (``OfficialConvNeXt``) in fp32. In every
reduced-precision mode (CPU autocast fp16 and bf16, ``.half()`` and ``.bfloat16()``
modules) each output and each parameter's gradient of ``ConvNeXtBackbone`` must stay
within 1.5x of the official formulation's own error in that mode (plus 1e-3), on both
the fast CPU path and the portable path (``cpu_kernels=False``, what CUDA runs).
"""
import contextlib
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from kernels_seen import kernels_seen

from convnext_backbone import ConvNeXtBackbone, OfficialConvNeXt
from convnext_backbone.models import cpu_kernels as cpu_path

ARCH = dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128])
LOSS_SCALE = 64.0  # as a dynamic loss scaler would multiply the fp16 loss
MODES = ['autocast-fp16', 'autocast-bf16', 'half', 'bfloat16']
#: Independent inputs whose errors are pooled (see ``pooled_errors``).
INPUT_SEEDS = tuple(range(1, 9))


def make_models(v2, gammas, cpu_kernels=True):
    """Ours and the official formulation with the same weights (fixed seed)."""
    torch.manual_seed(0)
    ours = ConvNeXtBackbone(dict(ARCH, v2=v2), layer_scale_init_value=0.0 if v2 else 1e-6,
                            cpu_kernels=cpu_kernels)
    with torch.no_grad():
        for name, param in ours.named_parameters():
            if name.endswith('.gamma') and gammas == 'trained':  # 10^U(-4, 0)
                param.copy_(10 ** torch.empty_like(param).uniform_(-4, 0))
            elif '.grn.' in name or ('norm' in name and 'stages' not in name):
                param.add_(0.3 * torch.randn_like(param))
    official = OfficialConvNeXt(ours.depths, ours.dims, layer_scale=0.0 if v2 else 1.0,
                                use_grn=v2)
    official.load_state_dict(ours.state_dict())
    return ours, official


def run(model, mode, x, projections):
    """Outputs (fp32) and gradients (fp32, unscaled) of a loss with fixed projections."""
    model = copy.deepcopy(model).train()  # the caller's weights stay fp32
    context = contextlib.nullcontext()
    if mode == 'half':
        model, x = model.half(), x.half()
    elif mode == 'bfloat16':
        model, x = model.bfloat16(), x.bfloat16()
    elif mode.startswith('autocast'):
        dtype = torch.float16 if mode.endswith('fp16') else torch.bfloat16
        context = torch.autocast(x.device.type, dtype=dtype)
    with context:
        outs = model(x)
        loss = sum((o.float() * p).sum() for o, p in zip(outs, projections))
    (loss * LOSS_SCALE).backward()
    grads = {n: p.grad.float() / LOSS_SCALE for n, p in model.named_parameters()
             if p.grad is not None}
    return [o.detach().float() for o in outs], grads


def relative_error(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def pooled_errors(ours, official, mode, seeds=INPUT_SEEDS, device='cpu',
                  memory_format=torch.contiguous_format):
    """Each output's and gradient's relative error against the fp32 official formulation,
    ours and the official formulation's in ``mode``, pooled over independent inputs.

    One input gives each bias gradient as a single sum over every pixel: a 16-element
    vector's error is one random draw that a CPU's bf16 kernels can make 3x smaller or
    larger for either model. Pooled over inputs (root of the summed squared errors over
    the root of the summed squared truths) the error measures the formulation, not the draw.
    The inputs come from the CPU generator, so every device sees the same ones.
    """
    ours, official = ours.to(device), official.to(device)
    sums = {}
    for seed in seeds:
        torch.manual_seed(seed)
        x = torch.randn(2, 3, 128, 128)
        with torch.no_grad():
            projections = [torch.randn(o.shape).to(device) for o in official.cpu()(x)]
        official.to(device)
        x = x.to(device).contiguous(memory_format=memory_format)
        ref_outs, ref_grads = run(official, 'fp32', x, projections)
        off_outs, off_grads = run(official, mode, x, projections)
        our_outs, our_grads = run(ours, mode, x, projections)
        assert our_grads.keys() == ref_grads.keys()
        triples = [(f'output {i}', our_outs[i], off_outs[i], ref_outs[i]) for i in range(4)]
        triples += [(n, our_grads[n], off_grads[n], ref_grads[n]) for n in ref_grads]
        for name, mine, theirs, truth in triples:
            acc = sums.setdefault(name, [0.0, 0.0, 0.0])
            acc[0] += (mine - truth).double().pow(2).sum().item()
            acc[1] += (theirs - truth).double().pow(2).sum().item()
            acc[2] += truth.double().pow(2).sum().item()
    return {name: ((a / max(t, 1e-60)) ** 0.5, (b / max(t, 1e-60)) ** 0.5)
            for name, (a, b, t) in sums.items()}


@pytest.mark.parametrize('cpu_kernels', [True, False], ids=['fast', 'portable'])
@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('v2,gammas', [(False, 'init'), (False, 'trained'), (True, 'grn')],
                         ids=['v1-gamma1e-6', 'v1-trained-gammas', 'v2'])
def test_reduced_precision_stays_within_the_official_formulations_error(
        v2, gammas, mode, cpu_kernels):
    ours, official = make_models(v2, gammas, cpu_kernels)
    failures = [f'{name}: ours {mine:.2e}, official {theirs:.2e}'
                for name, (mine, theirs) in pooled_errors(ours, official, mode).items()
                if mine > 1.5 * theirs + 1e-3]
    assert not failures, '\n'.join(failures)


@pytest.mark.parametrize('mode', ['autocast-fp16', 'half'])
def test_layer_scale_is_not_folded_under_autocast(mode):
    """Each block's residual branch against the official block's, in fp16.

    The bug this guards: gamma = 1e-6 folded into pwconv2's weight underflows in fp16 and
    the branch collapses. The input is scaled to 1e-6 (LayerNorm undoes the scale) so that
    the branch, about gamma in size, is not lost in ``block(x) - x``.
    """
    ours, official = make_models(False, 'init')
    x = 1e-6 * torch.randn(1, ARCH['dims'][0], 32, 32)
    for mine, theirs in zip(ours.stages[0], official.stages[0]):
        with torch.no_grad():
            truth = theirs(x) - x  # fp32
            if mode == 'half':
                branches = {}
                seen = kernels_seen(lambda: branches.update(
                    mine=copy.deepcopy(mine).half()(x.half()).float() - x.half().float()))
                branch = branches['mine']
                official_branch = (copy.deepcopy(theirs).half()(x.half()).float()
                                   - x.half().float())
            else:
                with torch.autocast('cpu', dtype=torch.float16):
                    seen = kernels_seen(lambda: mine(x))
                    branch, official_branch = mine(x).float() - x, theirs(x).float() - x
        assert not seen  # no CPU-only kernel in fp16
        assert branch.abs().max() > 0.1 * truth.abs().max()
        assert (relative_error(branch, truth)
                <= 1.5 * relative_error(official_branch, truth) + 1e-3)


@pytest.mark.parametrize('mode', ['autocast-bf16', 'bfloat16', 'autocast-fp16', 'half'])
def test_bf16_training_runs_the_cpu_depthwise_backward_and_fp16_none(mode):
    """The hand-written depthwise backward runs in bf16 (where it is 5-25x faster than
    ATen's) and stays within the precision bound above; fp16 runs the portable path."""
    ours, official = make_models(False, 'trained')
    projections = [torch.randn(o.shape) for o in official(torch.randn(1, 3, 64, 64))]
    seen = kernels_seen(lambda: run(ours, mode, torch.randn(1, 3, 64, 64), projections))
    expected = {'depthwise_backward': sum(ARCH['depths'])} if 'bf16' in mode or \
        mode == 'bfloat16' else {}
    assert dict(seen) == expected


@pytest.mark.parametrize('mode', ['inference', 'training', 'bf16-inference'])
def test_fast_path_runs_its_kernels_and_the_portable_path_none(mode):
    x = torch.randn(1, 3, 64, 64)
    grad = mode == 'training'
    for cpu_kernels in (True, False):
        model = ConvNeXtBackbone(ARCH, layer_scale_init_value=1.0, cpu_kernels=cpu_kernels)
        model.train(grad)

        def step():
            with torch.set_grad_enabled(grad), torch.autocast(
                    'cpu', dtype=torch.bfloat16, enabled=mode == 'bf16-inference'):
                outs = model(x)
            if grad:
                sum(o.sum() for o in outs).backward()

        seen = kernels_seen(step)
        blocks = sum(ARCH['depths'])
        if not cpu_kernels:
            assert not seen, seen
        elif grad:
            assert seen == {'pointwise_backward': 2 * blocks, 'depthwise_backward': blocks}
        elif mode == 'bf16-inference' and cpu_path.linear_gelu_works():
            assert seen == {'fused_linear_gelu': blocks}
        elif mode == 'inference' and cpu_path._ONEDNN_FUSION:
            assert seen == {'fused_conv_gelu': blocks, 'fused_conv_add': blocks}
        else:
            pytest.skip('this torch build or CPU has no oneDNN fused op for this mode')


@pytest.mark.parametrize('v2,gammas', [(False, 'init'), (False, 'trained'), (True, 'grn')],
                         ids=['v1-gamma1e-6', 'v1-trained-gammas', 'v2'])
def test_bf16_inference_keeps_the_portable_paths_numbers(v2, gammas):
    """bf16 CPU inference (LayerNorm writing bf16, GELU fused into pwconv1's GEMM) against
    the portable path in the same autocast and against the fp32 official formulation."""
    ours, official = make_models(v2, gammas)
    with torch.no_grad():  # every block's LayerNorm and biases away from their init
        for name, param in ours.stages.named_parameters():
            if name.endswith(('norm.weight', 'norm.bias', 'conv1.bias', 'conv2.bias')):
                param.add_(0.3 * torch.randn_like(param))
    official.load_state_dict(ours.state_dict())
    portable = copy.deepcopy(ours).set_cpu_kernels(False)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        truth = official(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            seen = kernels_seen(lambda: ours.eval()(x))
            fast, plain, official_bf16 = ours(x), portable.eval()(x), official(x)
    if cpu_path.linear_gelu_works():
        assert seen == {'fused_linear_gelu': sum(ARCH['depths'])}
    for i, (mine, theirs, ref, exact) in enumerate(zip(fast, plain, official_bf16, truth)):
        assert mine.dtype == theirs.dtype == torch.float32
        # GELU applied before the GEMM's result is rounded to bf16 rather than after: a
        # different rounding draw, as accurate (measured: within 3% of the portable path's
        # error either way; 1e-8 apart where layer scale keeps the branches small).
        assert relative_error(mine, exact) <= 1.1 * relative_error(theirs, exact), i
        assert relative_error(mine, exact) <= 1.5 * relative_error(ref, exact) + 1e-3, i


def test_set_cpu_kernels_switches_every_block():
    model = ConvNeXtBackbone(ARCH)
    model.set_cpu_kernels(False)
    assert not model.cpu_kernels and not any(b.cpu_kernels for s in model.stages for b in s)
    model.train()
    assert not kernels_seen(lambda: sum(o.sum() for o in model(torch.randn(1, 3, 64, 64)))
                            .backward())


@pytest.mark.parametrize('cpu_kernels', [True, False], ids=['fast', 'portable'])
@pytest.mark.parametrize('v2', [False, True])
def test_fp32_outputs_and_gradients_equal_the_official_formulation(v2, cpu_kernels):
    ours, official = make_models(v2, 'trained', cpu_kernels)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        projections = [torch.randn(o.shape) for o in official(x)]
    ref_outs, ref_grads = run(official, 'fp32', x, projections)
    our_outs, our_grads = run(ours, 'fp32', x, projections)
    for a, b in zip(our_outs, ref_outs):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    for name in ref_grads:
        torch.testing.assert_close(our_grads[name], ref_grads[name], atol=1e-4, rtol=1e-4,
                                   msg=name)


def test_pointwise_gemm_input_gradient_branch():
    # Weights of 1M+ elements take the GEMM branch of the hand-written input gradient.
    c_in, c_out = 512, 2048
    assert c_in * c_out >= cpu_path._GEMM_INPUT_GRAD_MIN_WEIGHTS
    torch.manual_seed(0)
    x = torch.randn(2, c_in, 6, 5).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(c_out, c_in) * 0.02, torch.randn(c_out)
    grads = []
    for enabled in (True, False):
        xi, wi, bi = (t.clone().requires_grad_() for t in (x, weight, bias))
        if enabled:  # the CPU path's 1x1 convolution with its hand-written backward
            out = cpu_path._pointwise_conv(xi, wi, bi)
        else:
            out = F.linear(xi.permute(0, 2, 3, 1), wi, bi).permute(0, 3, 1, 2)
        seen = kernels_seen(
            lambda: (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward())
        assert (seen['pointwise_backward'] > 0) == enabled
        grads.append((xi.grad, wi.grad, bi.grad))
    for fast, plain in zip(*grads):
        torch.testing.assert_close(fast, plain, atol=1e-4, rtol=1e-4)


# ---- GRN in fp16 -------------------------------------------------------------------------

def test_grn_equals_the_official_formula_in_fp32():
    from convnext_backbone.models.convnext import GRN
    from convnext_backbone.models.official import OfficialGRN
    torch.manual_seed(0)
    ours, official = GRN(64), OfficialGRN(64)
    with torch.no_grad():
        ours.gamma.normal_(), ours.beta.normal_()
    official.load_state_dict(ours.state_dict())
    x = 5 * torch.randn(2, 20, 30, 64)
    torch.testing.assert_close(ours(x), official(x), atol=1e-5, rtol=1e-5)


def test_half_grn_is_finite_where_a_plain_fp16_sum_of_squares_overflows():
    from convnext_backbone.models.convnext import GRN
    torch.manual_seed(0)
    grn = GRN(64)
    with torch.no_grad():
        grn.gamma.fill_(0.5)
    x = 20 * torch.randn(1, 200, 200, 64)
    naive = (x.half() * x.half()).sum(dim=(1, 2), dtype=torch.float16)
    assert torch.isinf(naive).any()  # what a plain fp16 runtime computes
    reference = grn(x)
    low = grn.half()(x.half()).float()
    assert torch.isfinite(low).all()
    assert relative_error(low, reference) < 2e-3


# ---- gradient checkpointing --------------------------------------------------------------

def saved_activation_bytes(model, x):
    """Bytes of the tensors autograd saves for backward during one forward pass."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outs = model(x)
    return total, outs


def test_with_cp_checkpoints_stage_0_behind_a_frozen_stem():
    x = torch.randn(1, 3, 128, 128)
    sizes = {}
    for frozen, with_cp in ((-1, False), (-1, True), (0, True)):
        model = ConvNeXtBackbone(ARCH, with_cp=with_cp, frozen_stages=frozen).train()
        sizes[frozen, with_cp], outs = saved_activation_bytes(model, x)
        sum(o.sum() for o in outs).backward()
        assert model.stages[0][0].dwconv.weight.grad is not None
    assert sizes[-1, True] < 0.5 * sizes[-1, False]
    assert sizes[0, True] <= 1.05 * sizes[-1, True], sizes


def test_with_cp_and_drop_path_give_the_same_gradients():
    torch.manual_seed(1)
    plain = ConvNeXtBackbone(ARCH, layer_scale_init_value=1.0, drop_path_rate=0.5)
    checkpointed = ConvNeXtBackbone(ARCH, layer_scale_init_value=1.0, drop_path_rate=0.5,
                                    with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 64, 64)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        torch.manual_seed(7)  # the same stochastic-depth draws; checkpointing replays them
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-5,
                                   msg=name)


def test_tracing_and_export_see_the_official_order_with_layer_scale_unfolded():
    """Under tracing (ONNX export, torch.jit) no CPU-only kernel runs and layer scale stays
    a separate fp32 multiply: folded, ``weight * gamma`` (gamma 1e-6) would underflow in a
    runtime that casts weights to fp16."""
    model = ConvNeXtBackbone(ARCH).eval()  # V1: gamma 1e-6
    x = torch.randn(1, 3, 64, 64)
    traced = []

    def trace():
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            traced.append(torch.jit.trace(model, x, check_trace=False))

    assert not kernels_seen(trace)
    traced = traced[0]
    graph = str(traced.inlined_graph)
    assert graph.count('aten::addcmul') == sum(ARCH['depths'])  # x + (linear + b) * gamma
    assert graph.count('aten::linear') == 2 * sum(ARCH['depths'])  # unfolded pwconv weights
    for a, b in zip(traced(x), model(x)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)

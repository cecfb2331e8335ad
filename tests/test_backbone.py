"""ConvNeXtBackbone against outside truths: reference outputs, published sizes, mmdet/mmseg."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from convnext_backbone import ARCH_SETTINGS, ConvNeXtBackbone, OfficialConvNeXt
from convnext_cli import model_zoo

from conftest import VERSIONS, expected, fixture_arch, fixture_dir

TINY_ARCH = dict(depths=[1, 1, 2, 1], dims=[8, 16, 24, 32])


def official_detection_backbone_state(version):
    ckpt = torch.load(fixture_dir(version) / 'official_detection.pth', weights_only=True)
    return {k[len('backbone.'):]: v for k, v in ckpt['state_dict'].items()
            if k.startswith('backbone.')}


@pytest.mark.parametrize('version', VERSIONS)
def test_official_detection_weights_reproduce_reference_outputs(version):
    model = ConvNeXtBackbone(arch=fixture_arch(version)).eval()
    # Official names: the checkpoint loads strictly, without renaming.
    model.load_state_dict(official_detection_backbone_state(version), strict=True)
    ref = expected(version)
    with torch.no_grad():
        outs = model(ref['input'])
    assert len(outs) == 4
    for out, want in zip(outs, ref['stage_outputs_normed']):
        assert out.shape == want.shape
        torch.testing.assert_close(out, want, atol=1e-4, rtol=0)


# Published sizes with a 1000-class head (configs/metafile.yml: timm's counts for V1, the
# ConvNeXt V2 paper's Table 8), within half a unit of the last published digit.
PUBLISHED_CLASSIFIERS = model_zoo.classifiers()


@pytest.mark.parametrize('arch', sorted(PUBLISHED_CLASSIFIERS))
def test_parameter_count_matches_published(arch):
    with torch.device('meta'):
        model = ConvNeXtBackbone(arch)
    total = sum(p.numel() for p in model.parameters())
    out_norms = sum(p.numel() for i in range(4) for p in getattr(model, f'norm{i}').parameters())
    c = model.dims[-1]
    classifier = total - out_norms + 2 * c + (c * 1000 + 1000)  # final LN + linear head
    published = PUBLISHED_CLASSIFIERS[arch]['Metadata']['Parameters (M)']
    tolerance = model_zoo.published_precision(published)
    assert abs(classifier / 1e6 - published) <= tolerance, (arch, classifier)


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_parameter_count_equals_the_official_formulation_exactly(arch):
    """Tensor for tensor, the official block structure's count (GRN's 8C per V2 block
    included, which the published counts' rounding cannot see on the small V2 sizes: V2-A's
    14,720 GRN parameters are under half a unit of its published 3.7 M)."""
    with torch.device('meta'):
        ours = ConvNeXtBackbone(arch)
        v2 = ours.use_grn
        official = OfficialConvNeXt(ours.depths, ours.dims, layer_scale=0.0 if v2 else 1e-6,
                                    use_grn=v2)
    assert ({n: tuple(p.shape) for n, p in ours.named_parameters()}
            == {n: tuple(p.shape) for n, p in official.named_parameters()})
    if v2:
        grn = sum(p.numel() for n, p in ours.named_parameters() if '.grn.' in n)
        assert grn == 8 * sum(d * c for d, c in zip(ours.depths, ours.dims))


def test_tiny_backbone_is_27_8m_without_head():
    # The published T classifier (28.59 M, metafile) less its head and final norm; the
    # output norms norm0..3 (3,840 parameters) are ours.
    model = ConvNeXtBackbone('tiny')
    published = PUBLISHED_CLASSIFIERS['tiny']['Metadata']['Parameters (M)']
    head = 768 * 1000 + 1000 + 2 * 768
    out_norms = 2 * sum(model.dims)
    backbone = (published * 1e6 - head + out_norms) / 1e6
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == round(backbone, 1) == 27.8


def test_v2_archs_use_grn_and_no_layer_scale():
    v2 = ConvNeXtBackbone('v2-atto')
    assert v2.stages[0][0].grn is not None and v2.stages[0][0].gamma is None
    v1 = ConvNeXtBackbone(TINY_ARCH)
    assert v1.stages[0][0].grn is None
    assert torch.all(v1.stages[0][0].gamma == 1e-6)
    custom = ConvNeXtBackbone(TINY_ARCH, use_grn=True, layer_scale_init_value=1.0)
    assert custom.stages[0][0].grn is not None and torch.all(custom.stages[0][0].gamma == 1)


ALL_SUBSETS = [s for r in range(1, 5) for s in itertools.combinations(range(4), r)]


@pytest.mark.parametrize('out_indices', ALL_SUBSETS)
def test_every_out_indices_subset(out_indices):
    model = ConvNeXtBackbone(TINY_ARCH, out_indices=out_indices).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        outs = model(x)
    assert len(outs) == len(out_indices)
    assert model.out_channels == [TINY_ARCH['dims'][i] for i in out_indices]
    for out, i in zip(outs, out_indices):
        stride = 4 * 2 ** i
        assert out.shape == (2, TINY_ARCH['dims'][i], 64 // stride, 96 // stride)


def test_outputs_are_the_same_features_for_any_subset():
    model = ConvNeXtBackbone(TINY_ARCH).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        full = model(x)
        model.out_indices = (1, 3)
        part = model(x)
    torch.testing.assert_close(part[0], full[1])
    torch.testing.assert_close(part[1], full[3])


@pytest.mark.parametrize('hw,expected_sizes', [
    ((100, 70), [(25, 17), (12, 8), (6, 4), (3, 2)]),
    ((32, 33), [(8, 8), (4, 4), (2, 2), (1, 1)]),
])
def test_sizes_not_multiple_of_32_floor_at_each_stride(hw, expected_sizes):
    model = ConvNeXtBackbone(TINY_ARCH).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    assert [tuple(o.shape[2:]) for o in outs] == expected_sizes


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3, 4])
def test_frozen_stages(frozen_stages):
    model = ConvNeXtBackbone(TINY_ARCH, frozen_stages=frozen_stages, drop_path_rate=0.2)
    model.train()
    sum(o.sum() for o in model(torch.randn(2, 3, 64, 64))).backward()
    frozen = set()
    if frozen_stages >= 0:
        frozen.add('downsample_layers.0.')
    for i in range(max(frozen_stages, 0)):
        frozen.update({f'downsample_layers.{i}.', f'stages.{i}.'})
    for name, param in model.named_parameters():
        is_frozen = any(name.startswith(p) for p in frozen)
        assert param.requires_grad != is_frozen, name
        assert (param.grad is None) == is_frozen, name
    for name, module in model.named_modules():
        if any(f'{name}.'.startswith(p) for p in frozen):
            assert not module.training, name  # kept in eval mode across train()
    # The per-stage output norms stay trainable.
    assert all(getattr(model, f'norm{i}').weight.grad is not None for i in range(4))
    assert model.norm0.training


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(1)
    plain = ConvNeXtBackbone(TINY_ARCH, layer_scale_init_value=1.0)
    checkpointed = ConvNeXtBackbone(TINY_ARCH, layer_scale_init_value=1.0, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        model.zero_grad()
        outs = model(x)
        sum((o ** 2).mean() for o in outs).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-5)


def test_drop_path_rate_rises_linearly_over_all_blocks():
    model = ConvNeXtBackbone(TINY_ARCH, drop_path_rate=0.4)
    rates = [b.drop_path_rate for stage in model.stages for b in stage]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_builds_from_mmdet_and_mmseg_registries(scope):
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    cfg = Config(dict(custom_imports=dict(imports=['convnext_backbone'])))
    import_modules_from_strings(**cfg.custom_imports)
    model = MODELS.build(dict(type='ConvNeXtBackbone', arch='tiny', out_indices=(0, 1, 2, 3)))
    assert isinstance(model, ConvNeXtBackbone) and model.dims == [96, 192, 384, 768]


# ---- bad input and bad configuration: clear messages -------------------------------------

@pytest.mark.parametrize('shape,pattern', [
    ((3, 64, 64), r'4-D .*got shape \(3, 64, 64\)'),
    ((1, 1, 64, 64), r'3 input channels.*got shape \(1, 1, 64, 64\)'),
    ((1, 3, 31, 64), r'H and W must be >= 32, got shape \(1, 3, 31, 64\)'),
    ((1, 3, 64, 16), r'H and W must be >= 32, got shape \(1, 3, 64, 16\)'),
])
def test_bad_input_shapes(shape, pattern):
    model = ConvNeXtBackbone(TINY_ARCH)
    with pytest.raises(ValueError, match=pattern):
        model(torch.randn(*shape))


@pytest.mark.parametrize('kwargs,pattern', [
    (dict(arch='hugest'), r"Unknown ConvNeXt arch 'hugest'.*'v2-huge'.*mmpretrain's"),
    (dict(arch=dict(depths=[1, 1, 1], dims=[8, 16, 32, 64])), r"arch\['depths'\] must be 4"),
    (dict(arch=dict(depth=[1, 1, 1, 1])), r'needs exactly the keys depths and dims'),
    (dict(out_indices=(0, 4)), r'out_indices must be .* 0\.\.3'),
    (dict(out_indices=()), r'out_indices must be'),
    (dict(frozen_stages=5), r'frozen_stages must be an int in -1\.\.4'),
    (dict(frozen_stages=-2), r'frozen_stages must be an int in -1\.\.4'),
    (dict(drop_path_rate=-0.1), r'drop_path_rate must be in \[0, 1\)'),
    (dict(layer_scale_init_value=-1.0), r'layer_scale_init_value must be >= 0'),
])
def test_bad_constructor_values(kwargs, pattern):
    kwargs.setdefault('arch', TINY_ARCH)
    with pytest.raises(ValueError, match=pattern):
        ConvNeXtBackbone(**kwargs)


def test_arch_names_listed_in_error():
    with pytest.raises(ValueError) as err:
        ConvNeXtBackbone('tinyy')
    for name in ARCH_SETTINGS:
        assert name in str(err.value)


def test_outputs_are_contiguous_nchw_for_mmcv_ops():
    # mmcv's CPU RoIAlign misreads channels-last input silently; outputs must be NCHW.
    from mmcv.ops import roi_align
    model = ConvNeXtBackbone(TINY_ARCH).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert all(o.is_contiguous() for o in outs)
    # A pixel-aligned RoI: with aligned=True, one sample per 2x2 bin lands exactly on the
    # pixels (1, 1), (1, 3), (3, 1) and (3, 3), so the result is known without mmcv.
    rois = torch.tensor([[0, 0.5, 0.5, 4.5, 4.5]])
    expected = outs[0][0][:, [1, 3]][:, :, [1, 3]]
    torch.testing.assert_close(roi_align(outs[0], rois, (2, 2), 1.0, 1, 'avg', True)[0],
                               expected)
    # What the contiguous outputs protect against: the same map channels-last reads wrong.
    wrong = roi_align(outs[0].contiguous(memory_format=torch.channels_last), rois, (2, 2),
                      1.0, 1, 'avg', True)[0]
    assert (wrong - expected).abs().max() > 0.1


def _textbook(model):
    """The official formulation (convnext_backbone/models/official.py), same weights."""
    reference = OfficialConvNeXt(model.depths, model.dims, layer_scale=1.0,
                                 use_grn=model.use_grn)
    reference.load_state_dict(model.state_dict())
    return reference


@pytest.mark.parametrize('v2', [False, True])
def test_gradients_match_the_textbook_formulation(v2):
    # The CPU backward passes are hand-written (models/cpu_kernels.py): check them against autograd
    # through the official formulation, for a batch of 2 and a non-square input.
    torch.manual_seed(0)
    model = ConvNeXtBackbone(dict(TINY_ARCH, v2=v2), layer_scale_init_value=1.0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if '.grn.' in name or name.endswith('.gamma') or 'norm' in name:
                param.add_(0.3 * torch.randn_like(param))
    reference = _textbook(model)
    x = torch.randn(2, 3, 64, 96)
    weights = [torch.randn(o.shape) for o in reference(x)]
    grads = []
    for net in (model, reference):
        net.train()
        inp = x.clone().requires_grad_()
        outs = net(inp)
        sum((o * w).sum() for o, w in zip(outs, weights)).backward()
        grads.append({'input': inp.grad, **{n: p.grad for n, p in net.named_parameters()}})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[1]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-4, rtol=1e-4,
                                   msg=name)


def test_fused_inference_equals_unfused():
    from kernels_seen import kernels_seen

    from convnext_backbone.models import cpu_kernels
    if not cpu_kernels._ONEDNN_FUSION:
        pytest.skip('this torch build has no oneDNN fused pointwise convolution')
    model = ConvNeXtBackbone(TINY_ARCH, layer_scale_init_value=1.0).eval()
    x = torch.randn(2, 3, 64, 96)
    outs = []
    with torch.no_grad():
        seen = kernels_seen(lambda: outs.append(model(x)))  # oneDNN conv+GELU, conv+add
    fused = outs[0]
    blocks = sum(TINY_ARCH['depths'])
    assert seen == {'fused_conv_gelu': blocks, 'fused_conv_add': blocks}  # they ran
    unfused = model(x)  # autograd on: the plain path
    for a, b in zip(fused, unfused):
        torch.testing.assert_close(a, b.detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('failure', ['raises', 'wrong result'])
@pytest.mark.parametrize('fused,check', [('_fused_gelu', 'fusion_works'),
                                         ('_fused_linear_gelu', 'linear_gelu_works')],
                         ids=['fp32-conv-gelu', 'bf16-linear-gelu'])
def test_a_fused_op_that_fails_its_check_is_not_used(monkeypatch, failure, fused, check):
    # The fused ops are private to torch: a release where they break must cost speed only.
    from kernels_seen import kernels_seen

    from convnext_backbone.models import cpu_kernels
    check = getattr(cpu_kernels, check)
    if not check():
        pytest.skip('this torch build or CPU has no such oneDNN fused op')
    original = getattr(cpu_kernels, fused)

    def broken(*args):
        if failure == 'raises':
            raise RuntimeError('could not create a memory')
        return torch.zeros_like(original(*args))

    monkeypatch.setattr(cpu_kernels, fused, broken)
    check.cache_clear()
    model = ConvNeXtBackbone(TINY_ARCH, layer_scale_init_value=1.0).eval()
    x = torch.randn(2, 3, 64, 96)
    bf16 = fused == '_fused_linear_gelu'
    outs = []
    try:
        with pytest.warns(UserWarning, match='failed its check.*unfused path'), \
                torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            seen = kernels_seen(lambda: outs.append(model(x)))
            reference = model.set_cpu_kernels(False)(x)  # the portable path
        assert not check()
    finally:
        check.cache_clear()  # later tests check the real ops again
    assert not seen  # no fused op ran
    for a, b in zip(outs[0], reference):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_the_fusion_check_leaves_the_global_random_state_alone():
    from convnext_backbone.models import cpu_kernels
    cpu_kernels.fusion_works.cache_clear()
    state = torch.random.get_rng_state()
    cpu_kernels.fusion_works()
    assert torch.equal(torch.random.get_rng_state(), state)


def test_torch_compile_of_bf16_cpu_inference_has_no_graph_breaks():
    # Eager bf16 CPU inference calls a oneDNN op without fake-tensor support: compiled, the
    # portable path must run instead, in one graph.
    model = ConvNeXtBackbone(TINY_ARCH).eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        explanation = torch._dynamo.explain(model)(torch.randn(1, 3, 64, 64))
    assert explanation.graph_break_count == 0, explanation.break_reasons


@pytest.mark.parametrize('training', [False, True])
def test_torch_compile_has_no_graph_breaks(training):
    model = ConvNeXtBackbone(TINY_ARCH, drop_path_rate=0.1 if training else 0.0)
    model.train(training)
    x = torch.randn(1, 3, 64, 64)
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    model.drop_path_rate = 0.0
    for block in (b for stage in model.stages for b in stage):
        block.drop_path_rate = 0.0  # deterministic: compiled and eager see the same network
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    projections = [torch.randn(o.shape) for o in model(x)]
    grads = []
    for run in (compiled, model):  # the compiled graph's gradients against eager autograd
        model.zero_grad()
        outs = run(x)
        if not training:
            grads.append([o.detach() for o in outs])
            continue
        sum((o * p).sum() for o, p in zip(outs, projections)).backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


# bf16 autocast keeps 8 mantissa bits; on unit-variance normed features that is a few
# hundredths on average. Stated tolerance: mean abs error <= 0.03, max abs error <= 0.5;
# gradients within 5% relative (L2) error of fp32 (measured: at most 1.3%).
BF16_MEAN_TOL, BF16_MAX_TOL, BF16_GRAD_TOL = 0.03, 0.5, 0.05


def test_bf16_autocast_outputs_and_gradients_stay_close_to_fp32():
    torch.manual_seed(0)
    model = ConvNeXtBackbone(TINY_ARCH, layer_scale_init_value=1.0)
    x = torch.randn(2, 3, 64, 96)
    model.eval()
    with torch.no_grad():
        reference = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = model(x)
    for a, b in zip(low, reference):
        error = (a.float() - b).abs()
        assert error.mean() <= BF16_MEAN_TOL and error.max() <= BF16_MAX_TOL
    model.train()
    projections = [torch.randn(o.shape) for o in reference]
    grads = []
    for precision in (torch.float32, torch.bfloat16):
        model.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision != torch.float32):
            loss = sum((o.float() * p).sum() for o, p in zip(model(x), projections))
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name, fp32 in grads[0].items():
        bf16 = grads[1][name]
        assert bf16.dtype == torch.float32
        assert (bf16 - fp32).norm() <= BF16_GRAD_TOL * fp32.norm(), name


def test_xxlarge_is_openclip_tower_with_its_eps():
    """timm's convnext_xxlarge (OpenCLIP's tower): depths 3-4-30-3, LayerNorm eps 1e-5."""
    from convnext_backbone import infer_arch
    with torch.device('meta'):
        model = ConvNeXtBackbone('xxlarge')
    assert (model.depths, model.dims) == ([3, 4, 30, 3], [384, 768, 1536, 3072])
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and {m.eps for m in norms} == {1e-5}
    assert infer_arch(model.state_dict()) == ([3, 4, 30, 3], [384, 768, 1536, 3072], False)
    custom = ConvNeXtBackbone(dict(depths=[1, 1, 1, 1], dims=[8, 8, 8, 8], eps=1e-5))
    assert {m.eps for m in custom.modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-5}
    # The eps is used: the same weights give other outputs with eps 1e-6.
    default = ConvNeXtBackbone(dict(depths=[1, 1, 1, 1], dims=[8, 8, 8, 8]))
    default.load_state_dict(custom.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for model in (custom, default):
            model.downsample_layers[0][0].bias.zero_()
        x = x * 1e-3 / custom.downsample_layers[0][0](x).std()
        # Stem output variance ~1e-6: between the two eps, where they matter.
        ours, theirs = custom.downsample_layers[0](x), default.downsample_layers[0](x)
    ratio = (theirs.std() / ours.std()).item()
    assert 1.2 < ratio < 3.2  # at most sqrt(10), the ratio of the two eps' square roots


@pytest.mark.parametrize('cpu_kernels', [True, False], ids=['fast', 'portable'])
def test_training_smoke_loss_is_finite_and_falls(cpu_kernels):
    """A few AdamW steps on one fixed batch (drop path and layer scale on, as the recipes
    train) through a fixed random head, so only the backbone learns: the loss stays finite
    and falls to under half its start. A backbone whose gradients are lost cannot fit it."""
    torch.manual_seed(0)
    model = ConvNeXtBackbone(TINY_ARCH, drop_path_rate=0.1, layer_scale_init_value=1.0,
                             cpu_kernels=cpu_kernels)
    head = torch.nn.Conv2d(TINY_ARCH['dims'][-1], 3, 1).requires_grad_(False)
    x = torch.randn(2, 3, 64, 64)
    target = torch.randint(0, 3, (2, 2, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    losses = []
    model.train()
    for _ in range(30):
        loss = F.cross_entropy(head(model(x)[-1]), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], losses

"""A dilated backbone (output stride 16 or 8) against timm's ``output_stride`` outputs
written by timm itself (tests/data), and with the rest of the backbone's features."""
import pytest
import torch

from convnext_backbone import ConvNeXtBackbone, load_pretrained

from conftest import VERSIONS, fixture_arch, fixture_dir


def raw_stage_outputs(model, x):
    """The four stage outputs before their output norms (what timm's features_only gives)."""
    outs = []
    hooks = [stage.register_forward_hook(lambda m, i, o: outs.append(o)) for stage in
             model.stages]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outs


def loaded(version, output_stride, **kwargs):
    model = ConvNeXtBackbone(fixture_arch(version), output_stride=output_stride, **kwargs)
    load_pretrained(model, fixture_dir(version) / 'timm_features.pth')
    return model.eval()


@pytest.mark.parametrize('version', VERSIONS)
@pytest.mark.parametrize('output_stride', [16, 8])
def test_dilated_outputs_reproduce_timm(version, output_stride):
    ref = torch.load(fixture_dir(version) / 'timm_output_stride.pth', weights_only=True)
    with torch.no_grad():
        outs = raw_stage_outputs(loaded(version, output_stride), ref['input'])
    for out, want in zip(outs, ref[f'output_stride_{output_stride}'], strict=True):
        assert out.shape == want.shape
        torch.testing.assert_close(out, want, rtol=0, atol=1e-4)
    # the last stage keeps stride 16 (or 8): 1/16 (1/8) of the 96x128 input
    assert outs[-1].shape[-2:] == (96 // output_stride, 128 // output_stride)


@pytest.mark.parametrize('version', VERSIONS)
def test_sides_that_are_not_multiples_of_32_are_padded_as_timm_pads(version):
    ref = torch.load(fixture_dir(version) / 'timm_output_stride_odd.pth', weights_only=True)
    for output_stride in (32, 16, 8):
        model = loaded(version, output_stride)
        for x, wants in zip(ref['inputs'], ref[f'output_stride_{output_stride}'], strict=True):
            with torch.no_grad():
                outs = raw_stage_outputs(model, x)
            for out, want in zip(outs, wants, strict=True):
                assert out.shape == want.shape, (output_stride, tuple(x.shape))
                torch.testing.assert_close(out, want, rtol=0, atol=1e-4)


def test_every_parameter_keeps_its_shape_so_every_checkpoint_loads():
    shapes = {k: v.shape for k, v in ConvNeXtBackbone('v2-atto').state_dict().items()}
    for output_stride in (16, 8):
        dilated = ConvNeXtBackbone('v2-atto', output_stride=output_stride).state_dict()
        assert {k: v.shape for k, v in dilated.items()} == shapes


def test_a_stride_other_than_32_16_8_is_refused():
    with pytest.raises(ValueError, match=r'output_stride must be one of \(32, 16, 8\)'):
        ConvNeXtBackbone(output_stride=4)


def test_training_with_cp_frozen_stages_and_cpu_kernels_off_gives_the_same_gradients():
    # Fixed random projections of every output: a loss whose gradient is not zero.
    torch.manual_seed(0)
    x = torch.randn(2, 3, 75, 109)
    weights = [torch.randn(1, c, 1, 1) for c in (40, 80, 160, 320)]

    def grads(**kwargs):
        torch.manual_seed(1)
        model = ConvNeXtBackbone('v2-atto', output_stride=8, frozen_stages=1, **kwargs)
        model.train()
        loss = sum((out * w).sum() for out, w in zip(model(x), weights))
        loss.backward()
        return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    reference = grads(cpu_kernels=False)  # the portable path: what CUDA runs
    assert 'stages.3.0.dwconv.weight' in reference and 'stages.0.0.dwconv.weight' not in reference
    assert reference['stages.3.0.dwconv.weight'].abs().sum() > 0
    for kwargs in (dict(), dict(with_cp=True)):
        other = grads(**kwargs)
        assert other.keys() == reference.keys()
        for name, grad in reference.items():
            # fp32 rounding of the CPU kernels' other summation order: ~1e-6 of the scale
            assert (other[name] - grad).abs().max() <= 1e-5 * grad.abs().max(), name


def test_bf16_autocast_stays_close_to_fp32():
    model = ConvNeXtBackbone('v2-atto', output_stride=16).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        fp32 = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            bf16 = model(x)
    for a, b in zip(fp32, bf16):
        assert b.dtype == torch.float32 and torch.isfinite(b).all()
        assert (a - b).abs().max() / a.abs().max() < 0.05


def test_the_flops_counter_counts_the_dilated_stages_at_their_resolution():
    from convnext_cli.get_flops import flops_by_module
    counts = {s: flops_by_module(ConvNeXtBackbone('tiny', output_stride=s).eval(), (224, 224))
              for s in (32, 16, 8)}
    for name in ('stages.3', 'downsample_layers.3.1'):  # .3.0, its norm, runs before
        assert counts[16][name] == 4 * counts[32][name]  # the same layers on 4x the pixels
        assert counts[8][name] == 16 * counts[32][name]
    assert counts[8]['stages.2'] == 4 * counts[32]['stages.2']
    assert counts[16]['stages.2'] == counts[32]['stages.2']

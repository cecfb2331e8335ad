"""The GPU path on a GPU: run with ``pytest -m cuda`` where CUDA exists (skipped elsewhere).

The same checks as the CPU tests of the portable path (tests/test_precision.py), on the
device the published recipes train on: equivalence with the official formulation in fp32,
fp16 and bf16 autocast, channels_last, one AMP training step of Mask R-CNN's backbone and
neck, torch.compile, and feature extraction (pinned batches, autocast, fp16 storage).
"""
import pytest
import torch

from convnext_backbone import ConvNeXtBackbone, OfficialConvNeXt
from convnext_backbone.models import fast_ops

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')]

ARCH = dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128])


def pair(v2=False):
    torch.manual_seed(0)
    ours = ConvNeXtBackbone(dict(ARCH, v2=v2), layer_scale_init_value=0.0 if v2 else 1e-6)
    official = OfficialConvNeXt(ours.depths, ours.dims, layer_scale=0.0 if v2 else 1.0,
                                use_grn=v2)
    official.load_state_dict(ours.state_dict())
    return ours.cuda(), official.cuda()


def outputs_and_grads(model, x, projections, dtype):
    model.train().zero_grad()
    with torch.autocast('cuda', dtype=dtype, enabled=dtype != torch.float32):
        outs = model(x)
        loss = sum((o.float() * p).sum() for o, p in zip(outs, projections))
    (loss * 64).backward()
    return ([o.detach().float() for o in outs],
            {n: p.grad.float() / 64 for n, p in model.named_parameters() if p.grad is not None})


def rel(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('v2', [False, True])
def test_cuda_matches_the_official_formulation(v2, dtype, memory_format):
    ours, official = pair(v2)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    x = torch.randn(2, 3, 128, 128, device='cuda').contiguous(memory_format=memory_format)
    with torch.no_grad():
        projections = [torch.randn_like(o) for o in official(x)]
    ref_outs, ref_grads = outputs_and_grads(official, x, projections, torch.float32)
    off_outs, off_grads = outputs_and_grads(official, x, projections, dtype)
    fast_ops.KERNEL_CALLS.clear()
    our_outs, our_grads = outputs_and_grads(ours, x, projections, dtype)
    assert sum(fast_ops.KERNEL_CALLS.values()) == 0  # no CPU-only kernel on CUDA
    pairs = list(zip(our_outs, off_outs, ref_outs))
    pairs += [(our_grads[n], off_grads[n], ref_grads[n]) for n in ref_grads]
    for mine, theirs, truth in pairs:
        assert rel(mine, truth) <= 1.5 * rel(theirs, truth) + 1e-3


class LateralNeck(torch.nn.Module):
    """FPN's lateral 1x1 convolutions and top-down sum, for machines without mmdet/mmcv."""

    def __init__(self, in_channels, out_channels=256):
        super().__init__()
        self.lateral = torch.nn.ModuleList(torch.nn.Conv2d(c, out_channels, 1)
                                           for c in in_channels)

    def forward(self, feats):
        outs = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(len(outs) - 1, 0, -1):
            outs[i - 1] = outs[i - 1] + torch.nn.functional.interpolate(
                outs[i], size=outs[i - 1].shape[-2:])
        return outs


def test_amp_training_step_of_mask_rcnn_backbone_and_neck():
    from mmengine.optim import AmpOptimWrapper
    backbone = ConvNeXtBackbone('tiny', drop_path_rate=0.4, layer_scale_init_value=1.0).cuda()
    try:  # mmdet's FPN where mmdet (and mmcv's CUDA ops) are installed
        from mmdet.models.necks import FPN
        neck = FPN(in_channels=backbone.out_channels, out_channels=256, num_outs=5).cuda()
    except ImportError:
        neck = LateralNeck(backbone.out_channels).cuda()
    start = [p.detach().clone() for p in backbone.parameters()]
    params = list(backbone.parameters()) + list(neck.parameters())
    wrapper = AmpOptimWrapper(optimizer=torch.optim.AdamW(params, lr=1e-4),
                              loss_scale='dynamic')
    x = torch.randn(2, 3, 512, 640, device='cuda')
    projections = None
    for _ in range(3):  # a first step may be skipped while the dynamic loss scale settles
        with wrapper.optim_context(backbone):
            feats = neck(backbone(x))
            if projections is None:  # fixed random projections: a loss with real gradients
                projections = [torch.randn_like(f, dtype=torch.float32) for f in feats]
            loss = sum((f.float() * p).mean() for f, p in zip(feats, projections))
        wrapper.update_params(loss)
        assert torch.isfinite(loss)
    changed = [not torch.equal(a, p.detach()) for a, p in zip(start, backbone.parameters())]
    assert sum(changed) > 0.9 * len(changed)  # the steps updated the backbone's weights
    assert all(torch.isfinite(p).all() for p in backbone.parameters())


def test_torch_compile_on_cuda_matches_eager():
    model = ConvNeXtBackbone(ARCH, layer_scale_init_value=1.0).cuda().eval()
    x = torch.randn(2, 3, 128, 128, device='cuda')
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        for a, b in zip(compiled(x), model(x)):
            torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize('amp', [None, 'fp16', 'bf16'])
def test_extraction_on_cuda_matches_the_cpu(tmp_path, amp):
    # Pinned batches, normalisation and the cast to the stored dtype on the GPU.
    import numpy as np
    from PIL import Image

    from convnext_cli import extract_features
    rng = np.random.default_rng(0)
    (tmp_path / 'in').mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (64 + 32 * (i % 2), 96, 3), dtype=np.uint8)).save(
            tmp_path / 'in' / f'{i}.png')
    arch = dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128])
    features = {}
    for device in ('cpu', 'cuda'):
        torch.manual_seed(0)  # the same random weights on both devices
        extract_features.extract([str(tmp_path / 'in')], str(tmp_path / device), arch=arch,
                                 device=device, batch_size=2, workers=1, progress=False,
                                 amp=amp if device == 'cuda' else None, dtype='float16')
        features[device] = {p.name: dict(np.load(p)) for p in (tmp_path / device).glob('*.npz')}
    assert sorted(features['cuda']) == [f'{i}.npz' for i in range(5)]
    for name, cpu in features['cpu'].items():
        for key in ('stage0', 'stage1', 'stage2', 'stage3'):
            a, b = features['cuda'][name][key].astype(np.float32), cpu[key].astype(np.float32)
            assert features['cuda'][name][key].dtype == np.float16
            assert np.linalg.norm(a - b) / np.linalg.norm(b) < (0.02 if amp else 2e-3), key

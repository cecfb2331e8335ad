"""The GPU path on a GPU: run with ``pytest -m cuda`` where CUDA exists (skipped elsewhere).

The same checks as the CPU tests of the portable path (tests/test_precision.py), on the
device the published recipes train on: equivalence with the official formulation in fp32,
fp16 and bf16 autocast, channels_last, one AMP training step of Mask R-CNN's backbone and
neck, torch.compile, and feature extraction (pinned batches, autocast, fp16 storage).
"""
import pytest
import torch
from kernels_seen import kernels_seen
from test_precision import MODES, make_models, pooled_errors

from convnext_backbone import ConvNeXtBackbone

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')]

ARCH = dict(depths=[1, 1, 2, 1], dims=[16, 32, 64, 128])
CASES = [(False, 'init'), (False, 'trained'), (True, 'grn')]


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last],
                         ids=['contiguous', 'channels_last'])
@pytest.mark.parametrize('mode', ['fp32'] + MODES)
@pytest.mark.parametrize('v2,gammas', CASES, ids=['v1-gamma1e-6', 'v1-trained-gammas', 'v2'])
def test_cuda_matches_the_official_formulation(v2, gammas, mode, memory_format):
    """The precision tests' bound on the GPU, pooled over the same inputs (TF32 off)."""
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    ours, official = make_models(v2, gammas)
    results = {}
    seen = kernels_seen(lambda: results.update(pooled_errors(
        ours, official, mode, device='cuda', memory_format=memory_format)))
    assert not seen  # no CPU-only kernel on CUDA
    errors = results
    failures = [f'{name}: ours {mine:.2e}, official {theirs:.2e}'
                for name, (mine, theirs) in errors.items() if mine > 1.5 * theirs + 1e-3]
    assert not failures, '\n'.join(failures)


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
        extract_features.extract(extract_features.ExtractionSettings(
            inputs=(str(tmp_path / 'in'),), out_dir=str(tmp_path / device), arch=arch,
            device=device, batch_size=2, workers=1, amp=amp if device == 'cuda' else None,
            dtype='float16'), progress=False)
        features[device] = {p.name: dict(np.load(p)) for p in (tmp_path / device).glob('*.npz')}
    assert sorted(features['cuda']) == [f'{i}.npz' for i in range(5)]
    for name, cpu in features['cpu'].items():
        for key in ('stage0', 'stage1', 'stage2', 'stage3'):
            a, b = features['cuda'][name][key].astype(np.float32), cpu[key].astype(np.float32)
            assert features['cuda'][name][key].dtype == np.float16
            assert np.linalg.norm(a - b) / np.linalg.norm(b) < (0.02 if amp else 2e-3), key

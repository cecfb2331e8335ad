"""resume=True on torch >= 2.6 with mmengine 0.10.7: works once convnext_backbone is imported."""
import pickle

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

import convnext_backbone  # noqa: F401  (allowlists mmengine's checkpoint contents)
from convnext_backbone import ConvNeXtBackbone

pytestmark = pytest.mark.e2e


class TinyRegressor(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = ConvNeXtBackbone(dict(depths=[1, 1, 1, 1], dims=[8, 16, 24, 32]),
                                         layer_scale_init_value=1.0)
        self.head = nn.Linear(32, 1)

    def forward(self, inputs, target, mode='loss'):
        feature = self.backbone(inputs)[-1].mean(dim=(2, 3))
        return {'loss': nn.functional.mse_loss(self.head(feature).squeeze(-1), target)}


class RandomImages(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(index)
        return dict(inputs=torch.randn(3, 32, 32, generator=g), target=torch.tensor(index % 3.0))


class RecordLosses(Hook):
    def __init__(self):
        self.losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses[runner.iter + 1] = outputs['loss'].item()


def make_runner(work_dir, max_iters, resume=False):
    recorder = RecordLosses()
    torch.manual_seed(0)  # the same initial weights in every run
    runner = Runner(
        model=TinyRegressor(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=RandomImages(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        param_scheduler=dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=4),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[recorder],
        randomness=dict(seed=0),
        resume=resume,
    )
    return runner, recorder


def test_resume_continues_with_the_same_losses(tmp_path):
    full, full_losses = make_runner(tmp_path / 'full', max_iters=6)
    full.train()

    first, _ = make_runner(tmp_path / 'split', max_iters=3)
    first.train()
    checkpoint = tmp_path / 'split' / 'iter_3.pth'
    # Without the project's allowlist, torch >= 2.6 refuses mmengine's own checkpoint.
    allowlist = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            torch.load(checkpoint)
    finally:
        torch.serialization.add_safe_globals(allowlist)

    resumed, resumed_losses = make_runner(tmp_path / 'split', max_iters=6, resume=True)
    resumed.train()
    assert sorted(resumed_losses.losses) == [4, 5, 6]  # continued from the saved iteration
    for it in (4, 5, 6):
        assert abs(resumed_losses.losses[it] - full_losses.losses[it]) < 1e-6, it


def test_plain_torch_load_of_mmengine_checkpoint_is_weights_only(tmp_path):
    runner, _ = make_runner(tmp_path, max_iters=3)
    runner.train()
    state = torch.load(tmp_path / 'iter_3.pth', weights_only=True)
    assert state['meta']['iter'] == 3 and 'message_hub' in state


def test_a_crafted_checkpoint_cannot_change_global_state(tmp_path, monkeypatch):
    """mmengine's HistoryBuffer.__setstate__ copies a file's statistics_methods into a
    class-wide dict; a crafted file maps 'mean' to max and adds a name that later loads'
    getattr would then allow. Reading it with the allowlist changes nothing global."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    from convnext_backbone.engine.resume_allowlist import _history_buffer_getattr
    crafted = HistoryBuffer([1.0, 2.0], [1, 1])  # registers mmengine's four defaults
    before = dict(HistoryBuffer._statistics_methods)
    state = dict(_log_history=np.array([1.0, 5.0]), _count_history=np.array([1, 1]),
                 max_length=10, statistics_methods={'mean': HistoryBuffer.max,
                                                    'register_statistics': HistoryBuffer.min})
    with monkeypatch.context() as patch:
        patch.setattr(HistoryBuffer, '__getstate__', lambda self: state)
        torch.save({'message_hub': {'log_scalars': {'loss': crafted}}}, tmp_path / 'c.pth')
    loaded = torch.load(tmp_path / 'c.pth', weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['loss']
    assert type(buffer) is HistoryBuffer and buffer.current() == 5.0
    assert HistoryBuffer._statistics_methods == before
    assert HistoryBuffer([1.0, 3.0], [1, 1]).mean() == 2.0  # still the mean, not the max
    with pytest.raises(RuntimeError, match='only HistoryBuffer statistics methods'):
        _history_buffer_getattr(HistoryBuffer, 'register_statistics')

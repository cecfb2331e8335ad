"""DDP (two gloo processes, mmengine's wrapper with its defaults) trains any out_indices."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.optim import OptimWrapper

from convnext_backbone import ConvNeXtBackbone

from conftest import free_port

ARCH = dict(depths=[1, 1, 2, 1], dims=[8, 16, 24, 32])
pytestmark = pytest.mark.e2e


class BackboneWithLoss(BaseModel):
    """The backbone and a loss of fixed random projections of its outputs."""

    def __init__(self, out_indices, **backbone_kwargs):
        super().__init__()
        torch.manual_seed(0)  # the same weights on every rank
        self.backbone = ConvNeXtBackbone(ARCH, out_indices=out_indices, **backbone_kwargs)
        self.projections = [torch.randn(2, ARCH['dims'][i], 64 // 2 ** (i + 2),
                                        64 // 2 ** (i + 2)) for i in out_indices]

    def forward(self, inputs, data_samples=None, mode='loss'):
        outs = self.backbone(inputs)
        return {'loss': sum((o * p).sum() for o, p in zip(outs, self.projections))}


def _steps(world_size, out_indices):
    model = MMDistributedDataParallel(module=BackboneWithLoss(out_indices))
    start = {n: p.detach().clone() for n, p in model.module.named_parameters()}
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    for step in range(3):
        torch.manual_seed(100 * dist.get_rank() + step)  # different data on each rank
        model.train_step(dict(inputs=torch.randn(2, 3, 64, 64)), optim)
    # Synchronised gradients: the weights are the same on both ranks.
    for param in model.module.parameters():
        gathered = [torch.empty_like(param) for _ in range(world_size)]
        dist.all_gather(gathered, param.detach())
        assert torch.equal(gathered[0], gathered[1])
    # ... and they trained: every parameter an output depends on moved, the rest did not.
    for name, param in model.module.named_parameters():
        assert torch.equal(param, start[name]) != param.requires_grad, name


def _train(rank, world_size, port, out_indices):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world_size)
    torch.set_num_threads(1)
    try:
        _steps(world_size, out_indices)  # the DDP wrapper is gone before the group is
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize('out_indices', [(1, 2, 3), (0, 1, 2), (3,)])
def test_ddp_with_default_find_unused_parameters_trains_a_subset(out_indices):
    mp.spawn(_train, args=(2, free_port(), out_indices), nprocs=2, join=True)


def test_unused_parts_are_frozen_but_checkpoints_still_load():
    full = ConvNeXtBackbone(ARCH)
    subset = ConvNeXtBackbone(ARCH, out_indices=(0, 1, 2))
    subset.load_state_dict(full.state_dict(), strict=True)  # every tensor is still there
    frozen = {n for n, p in subset.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in subset.named_parameters()
                      if n.startswith(('stages.3.', 'downsample_layers.3.', 'norm3.'))}
    no_norm0 = ConvNeXtBackbone(ARCH, out_indices=(1, 2, 3))
    assert {n for n, p in no_norm0.named_parameters() if not p.requires_grad} == {
        'norm0.weight', 'norm0.bias'}


# --- the combinations users hit (issue 28): one spawn runs them all in turn ---------------

#: with_cp x frozen_stages x out_indices x find_unused_parameters, drop path always on.
COMBINATIONS = [(with_cp, frozen, out, find_unused)
                for with_cp in (False, True) for frozen in (-1, 0, 2)
                for out in ((0, 1, 2, 3), (1, 2, 3), (0, 1, 2)) for find_unused in (False, True)]


def _combinations(rank, world_size, port, failures):
    import torch.utils.checkpoint as checkpoint
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world_size)
    torch.set_num_threads(1)
    reentrant = []
    original = checkpoint.checkpoint

    def recording(*args, **kwargs):
        reentrant.append(kwargs.get('use_reentrant'))
        return original(*args, **kwargs)

    checkpoint.checkpoint = recording
    try:
        for case in COMBINATIONS:
            with_cp, frozen, out_indices, find_unused = case
            reentrant.clear()
            module = BackboneWithLoss(out_indices, with_cp=with_cp, frozen_stages=frozen,
                                      drop_path_rate=0.3)
            model = MMDistributedDataParallel(module=module,
                                              find_unused_parameters=find_unused)
            start = {n: p.detach().clone() for n, p in module.named_parameters()}
            optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
            try:
                for step in range(2):
                    torch.manual_seed(100 * rank + step)  # different data (and drops)
                    model.train_step(dict(inputs=torch.randn(2, 3, 64, 64)), optim)
                assert reentrant == [] if not with_cp else (
                    reentrant and set(reentrant) == {False}), reentrant
                for name, param in module.named_parameters():
                    gathered = [torch.empty_like(param) for _ in range(world_size)]
                    dist.all_gather(gathered, param.detach())
                    assert torch.equal(gathered[0], gathered[1]), f'ranks differ: {name}'
                    changed = not torch.equal(param, start[name])
                    assert changed == param.requires_grad, f'{name} changed={changed}'
            except Exception as error:  # noqa: BLE001 - reported with its case
                failures.append(f'{case}: {type(error).__name__}: {error}')
            del model
            dist.barrier()
    finally:
        checkpoint.checkpoint = original
        dist.destroy_process_group()


def test_ddp_with_cp_frozen_stages_out_indices_drop_path_and_find_unused_in_every_combination():
    failures = mp.Manager().list()
    mp.spawn(_combinations, args=(2, free_port(), failures), nprocs=2, join=True)
    assert list(failures) == [], '\n'.join(failures)

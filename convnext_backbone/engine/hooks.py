"""Training hooks mmengine does not provide."""
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankProgressHook(Hook):
    """Print a progress line from every rank, not only rank 0.

    mmengine's logger prints on rank 0 only; in a multi-node run this tells that every
    process is alive and stepping. ``dict(type='RankProgressHook', interval=50)``.
    """

    def __init__(self, interval: int = 50) -> None:
        self.interval = interval

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval) or runner.iter == 0:
            rank = dist.get_rank() if dist.is_initialized() else 0
            world = dist.get_world_size() if dist.is_initialized() else 1
            loss = outputs.get('loss') if isinstance(outputs, dict) else None
            loss_text = f' loss {float(loss):.4f}' if loss is not None else ''
            print(f'[rank {rank}/{world}] iter {runner.iter + 1}/{runner.max_iters}'
                  f'{loss_text}', flush=True)

# Data: python tools/make_demo_data.py ade data/timing_ade_512 \
#           --num-train 12 --num-val 1 --size 512 512
# Run:  python tools/train.py benchmarks/configs/upernet_convnext_t_cpu_timing.py
# The real configs/upernet_convnext_t.py, timed on this CPU: generated ADE20K-layout
# images, 512x512 crops, batch 2 (with batch 1 the BN after the 1x1 pooling branch has
# one value per channel and cannot train), no pretrained file (random init), no
# validation. One process: mmengine turns SyncBN into BN.
_base_ = '../../configs/upernet_convnext_t.py'
model = dict(backbone=dict(init_cfg=None))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root='data/timing_ade_512'))
train_cfg = dict(max_iters=12, val_interval=1000)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1000))

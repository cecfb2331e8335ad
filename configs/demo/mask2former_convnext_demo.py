# Mask2Former with a small ConvNeXt on the generated ADE20K-layout demo set, on a CPU
# (make demo-mask2former). The recipe of configs/mask2former_convnext_t_ade20k.py (pixel
# decoder with deformable attention, masked-attention transformer decoder, Hungarian
# matching, AdamW with clipping at 0.01, stage-wise lr decay) shrunk for CPU minutes:
# 128x128 images, one-block stages trained from scratch (layer scale 1e-6, as the UperNet
# demo), 2 encoder and 3 decoder layers, 20 queries, 4096 sampled points, lr 1e-3, 600
# iterations of 8 images. Measured: docs/results.md.
# Data: python tools/make_demo_data.py ade data/demo_ade
_base_ = ['../mask2former_convnext_t_ade20k.py', '../_base_/demo_ade_data.py']

classes = _base_.demo_classes
dims = [32, 64, 128, 256]
crop_size = _base_.demo_crop_size
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=dict(_delete_=True, depths=[1, 1, 3, 1], dims=dims),
                  drop_path_rate=0.05, layer_scale_init_value=1e-6, init_cfg=None),
    decode_head=dict(in_channels=dims, num_classes=len(classes), num_queries=20,
                     loss_cls=dict(class_weight=[1.0] * len(classes) + [0.1]),
                     pixel_decoder=dict(encoder=dict(num_layers=2)),
                     transformer_decoder=dict(num_layers=3)),  # one per feature level
    train_cfg=dict(num_points=4096),
    test_cfg=dict(mode='whole'))

# The demo set as the UperNet demo reads it, replacing the ADE20K dataloaders.
train_dataloader = dict(_delete_=True, **_base_.demo_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.demo_val_dataloader)
test_dataloader = val_dataloader
val_evaluator = _base_.demo_evaluator
test_evaluator = val_evaluator

max_iters = 600
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=1e-3))  # from scratch: 10x the fine-tuning lr
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=50, end=max_iters),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False))
randomness = dict(seed=0)

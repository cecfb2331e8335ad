# The published UperNet + ConvNeXt ADE20K recipe, without the dataset (each config adds
# mmseg's 512x512 or 640x640 ADE20K base): UPerHead (512 channels) with an FCN auxiliary
# head (weight 0.4), SyncBN; 160k iterations, AdamW, stage-wise lr decay 0.9, linear
# warm-up over 1500 iterations then poly decay; mixed precision.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='ConvNeXtBackbone',
        arch='tiny',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.4,
        layer_scale_init_value=1.0),
    decode_head=dict(channels=512, num_classes=150),
    auxiliary_head=dict(num_classes=150, loss_decode=dict(loss_weight=0.4)))

# 16 images per step = 8 GPUs x 2 (each config sets batch_size=2 per GPU; the dataset
# base that sets the dataloaders sits beside this file); lr scales with the total batch.
auto_scale_lr = dict(enable=False, base_batch_size=16)

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',  # mixed precision (fp32 fallback on CPU-only machines)
    loss_scale='dynamic',
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6),
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000),
]

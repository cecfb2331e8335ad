# The published UperNet + ConvNeXt ADE20K recipe, without the size and the crop
# (upernet_convnext_{512,640}.py add mmseg's ADE20K base of that crop): UPerHead (512
# channels) with an FCN auxiliary head (weight 0.4), SyncBN; 160k iterations, AdamW, stage-wise lr decay 0.9, linear
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
        out_indices=(0, 1, 2, 3),
        layer_scale_init_value=1.0),
    decode_head=dict(channels=512, num_classes=150),
    auxiliary_head=dict(num_classes=150, loss_decode=dict(loss_weight=0.4)))

# 16 images per step = 8 GPUs x 2 (batch_size=2 per GPU is set beside the dataset, in
# upernet_convnext_{512,640}.py); on another total batch B use lr = base lr * B / 16
# (or --auto-scale-lr). SyncBN heads need a distributed run.
auto_scale_lr = dict(enable=False, base_batch_size=16)

# Multi-scale + flip testing (`tools/test.py CONFIG CKPT --tta`: mmseg's SegTTAModel over
# the dataset base's tta_pipeline, ratios 0.5-1.75): whole images at each scale, as the
# official *_ms configs test (single-scale testing slides windows).
tta_test_cfg = dict(mode='whole')

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',  # mixed precision (fp32 fallback on CPU-only machines)
    loss_scale='dynamic',
    constructor='ConvNeXtLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise'),
    optimizer=dict(type='AdamW', betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000),
]

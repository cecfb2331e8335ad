# The published UperNet + ConvNeXt ADE20K recipe, without the size and the crop
# (upernet_convnext_{512,640}.py add mmseg's ADE20K base of that crop): UPerHead (512
# channels) with an FCN auxiliary head (weight 0.4), SyncBN; 160k iterations; the
# backbone, optimizer and schedule of convnext_ade20k_finetune.py (AdamW, stage-wise lr
# decay 0.9, warm-up then poly decay, mixed precision).
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    './convnext_ade20k_finetune.py',
]

model = dict(
    pretrained=None,
    backbone=_base_.convnext_backbone,
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

optim_wrapper = _base_.convnext_optim_wrapper
param_scheduler = _base_.convnext_param_scheduler

# DeepLabV3+ with a dilated ConvNeXt on ADE20K, 512x512 crops, 160k iterations. No
# DeepLabV3+ ConvNeXt result is published; this recipe is derived (docs/model_zoo.md):
# - from mmseg's ResNet recipe (deeplabv3plus_r50-d8_4xb4-160k_ade20k-512x512.py): the
#   depthwise-separable ASPP head on the last stage, 48-channel skip from stage 0, FCN
#   auxiliary head on stage 2 (weight 0.4), SyncBN, 16 images per step, whole-image test;
# - with the UperNet ConvNeXt recipe's optimizer (convnext_ade20k_finetune.py): AdamW
#   lr 1e-4 (set by the leaves), weight decay 0.05, stage-wise lr decay 0.9, 1500-iteration
#   warm-up then poly, mixed precision. SGD lr 0.01 is ResNet's; ConvNeXt was fine-tuned
#   with AdamW throughout.
# ASPP rates 6/12/18, the DeepLabV3+ paper's for output stride 16 (a stride-8 leaf sets the
# ResNet d8 recipe's 12/24/36).
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-160k_ade20k-512x512.py',
          './convnext_ade20k_finetune.py']

model = dict(
    pretrained=None,
    backbone=_base_.convnext_backbone,  # leaves set output_stride (16 or 8)
    decode_head=dict(dilations=(1, 6, 12, 18)))

auto_scale_lr = dict(enable=False, base_batch_size=16)
optim_wrapper = _base_.convnext_optim_wrapper
param_scheduler = _base_.convnext_param_scheduler

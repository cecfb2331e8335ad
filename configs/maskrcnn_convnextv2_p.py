# Mask R-CNN + FPN, ConvNeXt V2-P (FCMAE ImageNet-1k pre-training), COCO 2017, 3x
# multi-scale + crop. Recipe and its sources: _base_/maskrcnn_convnextv2.py (layer-wise lr
# decay 0.95 from this size's real depths); no published result.
# Drop path 0.1: no detection or segmentation result is published for V2-P; 0.1 is what the
# official V2 ImageNet fine-tuning of the smallest size (V2-A) uses (ConvNeXt-V2 TRAINING.md).
_base_ = ['./_base_/maskrcnn_convnextv2.py', './_base_/backbones/convnextv2_p.py']

# The official FCMAE pre-trained file (pt_only/); its URL: configs/metafile.yml. The V2
# ImageNet-1k/22k fine-tuned files, timm, Hugging Face and mmpretrain ones load as they are.
pretrained = 'checkpoints/convnextv2_pico_1k_224_fcmae.pt'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=_base_.convnext_channels))

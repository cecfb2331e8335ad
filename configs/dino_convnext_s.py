# DINO 4-scale, ConvNeXt-S (ImageNet-22k, fine-tuned on 1k at 384), COCO 2017, 12 epochs.
# Recipe: _base_/dino_convnext.py (detrex's); published box AP: configs/metafile.yml.
_base_ = ['./_base_/dino_convnext.py', './_base_/backbones/convnext_s.py']

# The official ConvNeXt file detrex starts from; its URL: configs/metafile.yml.
pretrained = 'checkpoints/convnext_small_22k_1k_384.pth'
model = dict(
    backbone=dict(arch=_base_.convnext_arch,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=_base_.convnext_channels[1:]))  # stages 1-3

# DINO 5-scale, ConvNeXt-S (ImageNet-22k, fine-tuned on 1k at 384), COCO 2017, 12 epochs.
# Derived, no published result: _base_/dino_5scale_convnext.py.
_base_ = ['./_base_/dino_5scale_convnext.py', './_base_/backbones/convnext_s.py']

pretrained = 'checkpoints/convnext_small_22k_1k_384.pth'
model = dict(
    backbone=dict(arch=_base_.convnext_arch,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=_base_.convnext_channels))

# Cascade Mask R-CNN + FPN, ConvNeXt-XL, COCO 2017, 3x multi-scale + crop.
# Recipe: _base_/cascade_maskrcnn_convnext.py; published values: configs/metafile.yml.
_base_ = ['./_base_/cascade_maskrcnn_convnext.py', './_base_/backbones/convnext_xl.py']

# The file the official detection README (object_detection/README.md) starts from;
# its URL and source: configs/metafile.yml.
pretrained = 'checkpoints/convnext_xlarge_22k_224.pth'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.8,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=_base_.convnext_channels))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.7, num_layers=12),
                     optimizer=dict(lr=1e-4))

# Mask R-CNN + FPN, ConvNeXt-T (ImageNet-1k), COCO 2017, 3x multi-scale with the DETR-style
# crop augmentation (36 epochs): the published recipe (numbers: configs/metafile.yml).
# Recipe: _base_/maskrcnn_convnext.py and _base_/convnext_det_3x_recipe.py. Pretrained
# weights: the official ImageNet-1k classification checkpoint, saved at the path below;
# timm, torchvision and mmpretrain checkpoints of ConvNeXt-T work as they are.
_base_ = ['./_base_/maskrcnn_convnext.py', './_base_/backbones/convnext_t.py',
          './_base_/convnext_det_3x_recipe.py']

# The file the official detection README (object_detection/README.md) starts from;
# its URL and source: configs/metafile.yml.
pretrained = 'checkpoints/convnext_tiny_1k_224.pth'
model = dict(
    backbone=dict(arch=_base_.convnext_arch, drop_path_rate=0.4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=_base_.convnext_channels))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.95, num_layers=6),
                     optimizer=dict(lr=1e-4))

train_dataloader = dict(dataset=dict(pipeline={{_base_.ms_crop_train_pipeline}}))
train_cfg = dict(max_epochs=36)
param_scheduler = {{_base_.schedule_3x}}

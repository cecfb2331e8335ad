# Mask2Former with ConvNeXt, ADE20K semantic segmentation: mmseg's ResNet-50 recipe
# (mask2former_r50_8xb2-160k_ade20k-512x512.py: 512x512 crops, 160k iterations of 16
# images, poly schedule, 100 queries) with the ConvNeXt backbone and optimizer of
# mask2former_convnext.py (lr decay: the ConvNeXt UperNet recipe's, set by the leaves). mmseg's
# Swin-B/L recipes train at 640x640; these stay at 512. No published ConvNeXt result:
# docs/model_zoo.md.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
          './mask2former_convnext.py']
# mmseg's Mask2Former is mmdet's head: its base imports mmdet.models.
custom_imports = dict(imports=['mmdet.models', 'convnext_backbone'], allow_failed_imports=False)

model = dict(backbone=_base_.convnext_backbone)  # leaves set decode_head.in_channels
optim_wrapper = _base_.mask2former_optim_wrapper

# Mask2Former with ConvNeXt, COCO panoptic segmentation (PQ; box and mask AP of the
# things): mmdet's ResNet-50 recipe (mask2former_r50_8xb2-lsj-50e_coco-panoptic.py:
# large-scale jitter at 1024x1024, 50 epochs, 100 queries) with the ConvNeXt backbone and
# optimizer of mask2former_convnext.py. No published ConvNeXt result: docs/model_zoo.md.
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
          './mask2former_convnext.py']
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

model = dict(backbone=_base_.convnext_backbone)  # leaves set panoptic_head.in_channels
optim_wrapper = _base_.mask2former_optim_wrapper

# Mask2Former with ConvNeXt, COCO instance segmentation: mmdet's ResNet-50 recipe
# (mask2former_r50_8xb2-lsj-50e_coco.py: large-scale jitter at 1024x1024, 50 epochs as
# 368750 iterations of 16 images, 100 queries) with the ConvNeXt backbone and optimizer
# of mask2former_convnext.py. No published ConvNeXt result: docs/model_zoo.md.
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
          './mask2former_convnext.py']
custom_imports = dict(imports=['convnext_backbone'], allow_failed_imports=False)

model = dict(backbone=_base_.convnext_backbone)  # leaves set panoptic_head.in_channels
optim_wrapper = _base_.mask2former_optim_wrapper
# mmdet's instance recipe inherits its panoptic base's seg prefix (annotations/panoptic_*),
# which CocoDataset never reads here; dropped so that a COCO copy without the panoptic
# annotations passes the data check.
train_dataloader = dict(dataset=dict(data_prefix=dict(_delete_=True, img='train2017/')))
val_dataloader = dict(dataset=dict(data_prefix=dict(_delete_=True, img='val2017/')))
test_dataloader = val_dataloader

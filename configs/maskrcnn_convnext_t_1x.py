# Mask R-CNN + FPN, ConvNeXt-T (ImageNet-1k), COCO 2017, 1x single-scale (12 epochs):
# maskrcnn_convnext_t.py (the published 3x recipe) on mmdet's 1x schedule and single-scale
# pipeline, for quick experiments. No published number (configs/metafile.yml).
_base_ = './maskrcnn_convnext_t.py'

train_dataloader = dict(dataset=dict(pipeline={{_base_.single_scale_train_pipeline}}))
train_cfg = dict(max_epochs=12)
param_scheduler = {{_base_.schedule_1x}}
